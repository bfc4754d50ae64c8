// Lint keeps correctness and the module boundaries of docs/architecture.md; Prettier keeps style.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';
import { createNodeResolver, importX } from 'eslint-plugin-import-x';

const typed = (project) => ({
  languageOptions: { parserOptions: { project, tsconfigRootDir: import.meta.dirname } },
});

/** The umbrella package would put WebGL, the converter and tf.data into every engine bundle. */
const TFJS_UMBRELLA = {
  name: '@tensorflow/tfjs',
  message: 'Import TensorFlow.js through core/tf.ts (tfjs-core, tfjs-layers, cpu backend).',
};

/**
 * The layers of core/, lowest first: a folder (or root file) imports only from its own layer or
 * lower ones, so no folder of core/ imports one above it and the folders cannot form a cycle.
 * A folder missing here is not checked; add new folders to their layer.
 */
const CORE_LAYERS = [
  ['protocol'],
  ['errors.ts', 'tf.ts', 'io', 'workers'],
  ['backend', 'bnn', 'data', 'metrics', 'kernels'],
  ['checkpoints'],
  ['training'],
  ['parallel'],
  ['run'],
  ['export'],
  ['cli'],
];
const LAYER_ZONES = CORE_LAYERS.slice(0, -1).flatMap((layer, i) =>
  layer.map((name) => ({
    target: `./core/${name}`,
    from: CORE_LAYERS.slice(i + 1)
      .flat()
      .map((above) => `./core/${above}`),
    message: `core/${name} is below these folders (CORE_LAYERS in eslint.config.mjs): move the shared code down instead.`,
  })),
);

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      'dist/**',
      'out/**',
      '.bnn-lab/**',
      '.e2e/**',
      '**/*.js',
      '**/*.mjs',
      '**/*.cjs',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          // node:test's test()/describe() return promises the runner itself awaits.
          allowForKnownSafeCalls: [
            {
              from: 'package',
              package: 'node:test',
              name: [
                'test',
                'describe',
                'it',
                'suite',
                'before',
                'after',
                'beforeEach',
                'afterEach',
              ],
            },
          ],
        },
      ],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      'no-restricted-syntax': [
        'error',
        { selector: 'ExportDefaultDeclaration', message: 'Named exports only.' },
      ],
    },
  },
  {
    files: ['**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/extensions': ['.ts', '.js'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.js', '.json'] })],
    },
    // Import cycles (runtime imports; `import type` is erased and does not count) fail the lint.
    rules: { 'import-x/no-cycle': ['error', { ignoreExternal: true }] },
  },
  {
    files: ['core/**/*.ts'],
    rules: { 'import-x/no-restricted-paths': ['error', { zones: LAYER_ZONES }] },
  },
  {
    files: ['core/**/*.ts'],
    ...typed('./core/tsconfig.json'),
    languageOptions: {
      ...typed('./core/tsconfig.json').languageOptions,
      globals: { ...globals.es2022 },
    },
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: ['vscode', '**/extension/**', '**/webview/**'],
          paths: [TFJS_UMBRELLA],
        },
      ],
    },
  },
  {
    files: ['extension/**/*.ts'],
    ...typed('./extension/tsconfig.json'),
    rules: { 'no-restricted-imports': ['error', { patterns: ['**/webview/**'] }] },
  },
  {
    // The worker runs off the extension-host thread, where the vscode API does not exist.
    files: ['extension/worker/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: ['vscode', '**/webview/**'] }] },
  },
  {
    files: ['webview/**/*.ts'],
    ...typed('./webview/tsconfig.json'),
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: ['vscode', 'node:*', 'fs', 'path', '**/extension/**'] },
      ],
    },
  },
  {
    files: ['test/**/*.ts'],
    ...typed('./test/tsconfig.json'),
    rules: { 'no-restricted-imports': ['error', { paths: [TFJS_UMBRELLA] }] },
  },
);
