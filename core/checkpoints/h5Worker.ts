/**
 * worker_threads entry that runs h5wasm for the Keras readers. HDF5 is C code: on some corrupt
 * files it loops forever, and a stuck wasm call cannot be interrupted from JavaScript. Running it
 * here lets the main thread terminate the worker and report the file instead of hanging.
 */
import { parentPort } from 'node:worker_threads';
import { FileFormatError, UserError } from '../errors';
import { h5wasmAborted, openKerasLocal, type LocalKerasFile } from './h5Reader';

// HDF5 and emscripten print diagnostics for corrupt files (error stacks, "Invalid UTF-8"
// warnings); the reader turns them into one FileFormatError, so the worker stays quiet.
console.error = () => {};
console.warn = () => {};

/** Main thread → h5 worker. */
export type H5Request =
  /** Open a file and list its tensors. */
  | {
      id: number;
      op: 'open';
      path: string;
      displayName: string;
      layout: 'keras2' | 'keras3';
      configText?: string;
    }
  /** Decode one tensor of an opened file. */
  | { id: number; op: 'data'; handle: number; index: number }
  | { id: number; op: 'close'; handle: number };

/** A tensor as listed by the worker (CheckpointTensor without `data`). */
export interface H5TensorInfo {
  name: string;
  shape: number[];
  dtype: CheckpointTensorDtype;
  hint?: { binary: boolean; reason: string; clip: number | null };
}
type CheckpointTensorDtype = LocalKerasFile['tensors'][number]['dtype'];

/** H5 worker → main thread: one reply per request. */
export type H5Response =
  | {
      id: number;
      ok: true;
      handle?: number;
      tensors?: H5TensorInfo[];
      binarySource?: string;
      note?: string;
      values?: Float32Array;
    }
  | {
      id: number;
      ok: false;
      fileError?: { file: string; detail: string };
      /** Set for UserErrors (e.g. h5wasm missing), rethrown as UserError. */
      userError?: boolean;
      message: string;
    };

const files = new Map<number, LocalKerasFile>();
let nextHandle = 1;

async function handle(request: H5Request): Promise<H5Response> {
  switch (request.op) {
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
        id: request.id,
        ok: true,
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
      return { id: request.id, ok: true, values: await tensor.data() };
    }
    case 'close': {
      files.get(request.handle)?.close();
      files.delete(request.handle);
      return { id: request.id, ok: true };
    }
  }
}

parentPort?.on('message', (request: H5Request) => {
  handle(request).then(
    (response) => {
      const transfer =
        response.ok && response.values ? [response.values.buffer as ArrayBuffer] : [];
      parentPort?.postMessage(response, transfer);
    },
    (error: unknown) => {
      const response: H5Response =
        error instanceof FileFormatError
          ? {
              id: request.id,
              ok: false,
              fileError: { file: error.file, detail: error.message.slice(error.file.length + 2) },
              message: error.message,
            }
          : {
              id: request.id,
              ok: false,
              userError: error instanceof UserError,
              message: String((error as Error)?.message ?? error),
            };
      parentPort?.postMessage(response);
      // After a wasm abort the module's memory is unusable: exit so the client starts afresh.
      if (h5wasmAborted()) process.exit(1);
    },
  );
});
