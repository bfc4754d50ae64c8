/** Dashboard webview entry. */
export {};
