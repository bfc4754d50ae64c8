// Lint keeps correctness and the module boundaries of docs/architecture.md; Prettier keeps style.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

const typed = (project) => ({
  languageOptions: { parserOptions: { project, tsconfigRootDir: import.meta.dirname } },
});

/** The umbrella package would put WebGL, the converter and tf.data into every engine bundle. */
const TFJS_UMBRELLA = {
  name: '@tensorflow/tfjs',
  message: 'Import TensorFlow.js through core/tf.ts (tfjs-core, tfjs-layers, cpu backend).',
};

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
