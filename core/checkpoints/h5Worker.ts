/**
 * worker_threads entry that runs h5wasm for the Keras readers. HDF5 is C code: on some corrupt
 * files it loops forever, and a stuck wasm call cannot be interrupted from JavaScript. Running it
 * here lets the main thread terminate the worker and report the file instead of hanging.
 */
import { parentPort } from 'node:worker_threads';
import { FileFormatError, UserError } from '../errors';
import { h5wasmAborted, openKerasLocal, type LocalKerasFile } from './h5Reader';
import { isToH5, type FromH5, type ToH5 } from './h5Protocol';

// HDF5 and emscripten print diagnostics for corrupt files (error stacks, "Invalid UTF-8"
// warnings); the reader turns them into one FileFormatError, so the worker stays quiet.
console.error = () => {};
console.warn = () => {};

const files = new Map<number, LocalKerasFile>();
let nextHandle = 1;

async function handle(request: ToH5): Promise<FromH5> {
  switch (request.kind) {
    case 'open': {
      const file = await openKerasLocal(
        request.path,
        request.displayName,
        request.layout,
        request.configText,
      );
      const handle = nextHandle++;
      files.set(handle, file);
      return {
        kind: 'opened',
        id: request.id,
        handle,
        tensors: file.tensors.map(({ name, shape, dtype, hint }) => ({ name, shape, dtype, hint })),
        binarySource: file.binarySource,
        note: file.note,
      };
    }
    case 'data': {
      const file = files.get(request.handle);
      const tensor = file?.tensors[request.index];
      if (!tensor)
        throw new Error(`h5 worker: no tensor ${request.index} in handle ${request.handle}`);
      return { kind: 'tensorData', id: request.id, values: await tensor.data() };
    }
    case 'close': {
      files.get(request.handle)?.close();
      files.delete(request.handle);
      return { kind: 'closed', id: request.id };
    }
  }
}

parentPort?.on('message', (request: unknown) => {
  if (!isToH5(request)) return; // only keras.ts posts here
  handle(request).then(
    (response) => {
      const transfer =
        response.kind === 'tensorData' ? [response.values.buffer as ArrayBuffer] : [];
      parentPort?.postMessage(response, transfer);
    },
    (error: unknown) => {
      const response: FromH5 =
        error instanceof FileFormatError
          ? {
              kind: 'h5Failed',
              id: request.id,
              fileError: { file: error.file, detail: error.message.slice(error.file.length + 2) },
              message: error.message,
            }
          : {
              kind: 'h5Failed',
              id: request.id,
              userError: error instanceof UserError,
              message: String((error as Error)?.message ?? error),
            };
      parentPort?.postMessage(response);
      // After a wasm abort the module's memory is unusable: exit so the client starts afresh.
      if (h5wasmAborted()) process.exit(1);
    },
  );
});
