/** Engine worker entry (worker_threads): imports core, never vscode. */
export {};
