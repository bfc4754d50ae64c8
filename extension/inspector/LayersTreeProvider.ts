/**
 * The "Layers" tree in the BNN Lab side bar: the tensors of the checkpoint (or series) in the
 * active inspector page. Clicking one selects it in the page; selecting a row in the page
 * reveals it here.
 */
import * as vscode from 'vscode';
import type { InspectorContent } from '../../core/protocol';
import { layerItems, type LayerItem } from './layerItems';

const ICONS: Record<LayerItem['kind'], [string, string | undefined]> = {
  binary: ['symbol-boolean', 'charts.blue'],
  unknown: ['question', 'charts.yellow'],
  float: ['symbol-number', undefined],
  other: ['dash', undefined],
};

export class LayersTreeProvider implements vscode.TreeDataProvider<LayerItem>, vscode.Disposable {
  static readonly viewId = 'bnnLab.layers';
  private readonly emitter = new vscode.EventEmitter<LayerItem | undefined>();
  readonly onDidChangeTreeData = this.emitter.event;
  private items: LayerItem[] = [];
  private byName = new Map<string, LayerItem>();

  /** Shows the layers of `content` (undefined: nothing inspected). */
  setContent(content: InspectorContent | undefined): void {
    this.items = layerItems(content);
    this.byName = new Map(this.items.map((item) => [item.name, item]));
    this.emitter.fire(undefined);
  }

  item(name: string): LayerItem | undefined {
    return this.byName.get(name);
  }

  getChildren(element?: LayerItem): LayerItem[] {
    return element ? [] : this.items;
  }

  getParent(): undefined {
    return undefined;
  }

  getTreeItem(item: LayerItem): vscode.TreeItem {
    const tree = new vscode.TreeItem(item.name, vscode.TreeItemCollapsibleState.None);
    tree.id = item.name;
    tree.description = item.description;
    tree.tooltip = item.tooltip;
    const [icon, color] = ICONS[item.kind];
    tree.iconPath = new vscode.ThemeIcon(icon, color ? new vscode.ThemeColor(color) : undefined);
    tree.contextValue = `bnnLab.layer.${item.kind}`;
    tree.command = {
      command: 'bnnLab.selectLayer',
      title: 'Select Layer',
      arguments: [item.name],
    };
    return tree;
  }

  dispose(): void {
    this.emitter.dispose();
  }
}
