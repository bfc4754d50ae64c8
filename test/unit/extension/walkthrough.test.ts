/**
 * The contributed walkthrough (Get Started): its four steps in order, each with a page that exists
 * and a button and completion event that run contributed commands.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

// node:test schedules suites and tests itself; their returned promises are voided on purpose.

const ROOT = join(__dirname, '../../../..');

interface Step {
  id: string;
  title: string;
  description: string;
  media: { markdown?: string; image?: string; altText?: string };
  completionEvents?: string[];
}

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  contributes: {
    commands: { command: string }[];
    walkthroughs?: { id: string; title: string; steps: Step[] }[];
  };
};
const commands = new Set(pkg.contributes.commands.map((c) => c.command));

void describe('the Get Started walkthrough', () => {
  const walkthroughs = pkg.contributes.walkthroughs ?? [];

  void it('is one walkthrough: train, read the dashboard, inspect, fine-tune with LNS', () => {
    assert.equal(walkthroughs.length, 1);
    assert.deepEqual(
      walkthroughs[0].steps.map((s) => s.title),
      ['Train your first BNN', 'Read the dashboard', 'Inspect a checkpoint', 'Fine-tune with LNS'],
    );
  });

  for (const step of walkthroughs[0]?.steps ?? []) {
    void it(`${step.title}: a page that exists and buttons that run contributed commands`, () => {
      const page = step.media.markdown ?? '';
      assert.ok(page.startsWith('media/walkthrough/'), `${step.id}: markdown media`);
      assert.ok(existsSync(join(ROOT, page)), `${page} exists`);
      const text = readFileSync(join(ROOT, page), 'utf8');
      assert.match(text, new RegExp(`^# ${step.title}\\n`), `${page} is titled like the step`);
      const links = [...step.description.matchAll(/\]\(command:([\w.]+)\)/g)].map((m) => m[1]);
      assert.ok(links.length > 0, `${step.id}: a button`);
      for (const id of links) assert.ok(commands.has(id), `${step.id}: ${id} is contributed`);
      for (const event of step.completionEvents ?? []) {
        const id = /^onCommand:(.+)$/.exec(event)?.[1];
        assert.ok(id && commands.has(id), `${step.id}: ${event} names a contributed command`);
      }
    });
  }

  void it('the first step trains the quick demo the Train BNN pick offers first', () => {
    const first = walkthroughs[0].steps[0];
    assert.match(first.description, /Quick demo/);
    assert.match(first.description, /1 epoch on 2,000/);
  });
});
