/**
 * An allow-listed unpickler for PyTorch state dicts (pickle protocols 2–5).
 *
 * It is a data parser, not a Python VM: every GLOBAL is looked up in a fixed table of the
 * callables a state dict needs (OrderedDict, torch's tensor rebuilders, storage types) and any
 * other name — `os.system`, `builtins.eval`, `torch.storage._load_from_bytes` … — is refused with
 * that name before anything could be called. Nothing from the file is ever executed.
 */
import { FileFormatError } from '../errors';

/** A Python tuple (JS arrays stand for lists). */
export class PyTuple {
  constructor(readonly items: unknown[]) {}
}

/**
 * A dict key as Python would print it inside a name: strings as they are, tuples as
 * `(1, 'a')`, numbers, None, True/False; anything else by its kind. Used where a state dict's
 * key names a tensor (a tuple key would otherwise show as "[object Object]").
 */
export function keyName(key: unknown, depth = 0): string {
  if (typeof key === 'string') return depth === 0 ? key : `'${key}'`;
  if (typeof key === 'number' || typeof key === 'bigint') return String(key);
  if (typeof key === 'boolean') return key ? 'True' : 'False';
  if (key === null || key === undefined) return 'None';
  if (depth > 4) return '…';
  if (key instanceof PyTuple) {
    const items = key.items.map((k) => keyName(k, depth + 1));
    return `(${items.join(', ')}${items.length === 1 ? ',' : ''})`;
  }
  if (Array.isArray(key)) return `[${key.map((k) => keyName(k, depth + 1)).join(', ')}]`;
  if (key instanceof PyGlobal) return key.qualifiedName;
  return `<${(key as object).constructor?.name ?? 'object'}>`;
}

/** A Python dict or OrderedDict; `attributes` holds state set by BUILD (e.g. `_metadata`). */
export class PyDict {
  readonly map = new Map<unknown, unknown>();
  attributes: unknown = undefined;
}

/** A module-level name the allow-list accepted. */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
    readonly call: ((args: unknown[]) => unknown) | null,
  ) {}
  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/** Table of allowed globals: `module.name` → its implementation (null when not callable). */
export type GlobalTable = ReadonlyMap<string, ((args: unknown[]) => unknown) | null>;

/** Options of `unpickle`. */
export interface UnpickleOptions {
  /** Name of the file (or `file!member`) for error messages. */
  file: string;
  globals: GlobalTable;
  /** Resolves a persistent id (PyTorch storages); absent → persistent ids are refused. */
  persistentLoad?: (pid: unknown) => unknown;
  /** Extra advice appended to the "global refused" message. */
  refusedAdvice?: string;
}

/**
 * Parses `bytes` as a pickle and returns the top-level object, built from PyDict, PyTuple,
 * arrays, strings, numbers, bigints, booleans, null, Uint8Array and whatever the allowed
 * globals return. Throws FileFormatError for malformed data or a refused global.
 */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions): unknown {
  const { file } = options;
  const fail = (detail: string): never => {
    throw new FileFormatError(file, detail);
  };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const latin1 = new TextDecoder('latin1');
  let pos = 0;
  const stack: unknown[] = [];
  /** Stack heights at each open MARK. */
  const marks: number[] = [];
  const memo = new Map<number, unknown>();

  const need = (n: number, what: string): number => {
    if (!Number.isSafeInteger(n) || n < 0 || pos + n > bytes.length) {
      fail(`pickle data ends inside ${what} at byte ${pos} (truncated or corrupt)`);
    }
    const at = pos;
    pos += n;
    return at;
  };
  const readLine = (what: string): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail(`pickle data ends inside ${what} at byte ${pos}`);
    const text = latin1.decode(bytes.subarray(pos, end));
    pos = end + 1;
    return text;
  };
  const floor = (): number => (marks.length > 0 ? marks[marks.length - 1] : 0);
  const pop = (): unknown => {
    if (stack.length <= floor()) fail(`pickle stack underflow at byte ${pos}`);
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length <= floor()) fail(`pickle stack underflow at byte ${pos}`);
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const height = marks.pop();
    if (height === undefined) return fail(`pickle: MARK expected at byte ${pos}`);
    return stack.splice(height);
  };
  const decodeUtf8 = (at: number, n: number): string => {
    try {
      return utf8.decode(bytes.subarray(at, at + n));
    } catch {
      return fail(`pickle string at byte ${at} is not valid UTF-8`);
    }
  };
  const resolveGlobal = (module: string, name: string): PyGlobal => {
    const key = `${module}.${name}`;
    if (!options.globals.has(key)) {
      fail(
        `refused to load the Python global "${key}": BNN Lab reads only tensors, dicts and lists and never runs code from a checkpoint` +
          (options.refusedAdvice ? `; ${options.refusedAdvice}` : ''),
      );
    }
    return new PyGlobal(module, name, options.globals.get(key) ?? null);
  };
  const call = (callable: unknown, args: unknown): unknown => {
    if (!(callable instanceof PyGlobal)) fail(`pickle: REDUCE on a non-callable at byte ${pos}`);
    const g = callable as PyGlobal;
    if (g.call === null) fail(`pickle: "${g.qualifiedName}" cannot be called`);
    if (!(args instanceof PyTuple)) fail(`pickle: REDUCE arguments are not a tuple at byte ${pos}`);
    return g.call!((args as PyTuple).items);
  };
  const setItems = (target: unknown, items: unknown[]): void => {
    if (!(target instanceof PyDict)) fail(`pickle: SETITEM on a non-dict at byte ${pos}`);
    if (items.length % 2 !== 0) fail(`pickle: odd number of dict items at byte ${pos}`);
    for (let i = 0; i < items.length; i += 2) (target as PyDict).map.set(items[i], items[i + 1]);
  };
  const appendItems = (target: unknown, items: unknown[]): void => {
    if (Array.isArray(target)) for (const item of items) target.push(item);
    else fail(`pickle: APPEND on a non-list at byte ${pos}`);
  };
  const decodeLong = (at: number, n: number): number | bigint => {
    if (n === 0) return 0;
    let value = 0n;
    for (let i = n - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[at + i]);
    if (bytes[at + n - 1] & 0x80) value -= 1n << BigInt(8 * n);
    const asNumber = Number(value);
    return Number.isSafeInteger(asNumber) ? asNumber : value;
  };

  while (pos < bytes.length) {
    const opcodeAt = pos;
    const op = bytes[pos++];
    switch (op) {
      case 0x80: // PROTO
        need(1, 'PROTO');
        if (bytes[pos - 1] > 5) fail(`pickle protocol ${bytes[pos - 1]} is newer than 5`);
        break;
      case 0x95: // FRAME
        need(8, 'FRAME');
        break;
      case 0x2e: // STOP
        if (stack.length !== 1 || marks.length !== 0) {
          fail(`pickle: STOP with ${stack.length} values on the stack`);
        }
        return stack[0];
      case 0x28: // MARK
        marks.push(stack.length);
        break;
      case 0x30: // POP
        if (marks.length > 0 && stack.length === floor()) marks.pop();
        else pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x49: {
        // INT (text): "01"/"00" are booleans in protocol 0.
        const text = readLine('INT');
        if (text === '01' || text === '00') stack.push(text === '01');
        else {
          const v = Number.parseInt(text, 10);
          if (!Number.isFinite(v)) fail(`pickle: bad INT "${text}"`);
          stack.push(v);
        }
        break;
      }
      case 0x4a: // BININT
        stack.push(view.getInt32(need(4, 'BININT'), true));
        break;
      case 0x4b: // BININT1
        stack.push(bytes[need(1, 'BININT1')]);
        break;
      case 0x4d: // BININT2
        stack.push(view.getUint16(need(2, 'BININT2'), true));
        break;
      case 0x4c: {
        // LONG (text)
        const text = readLine('LONG').replace(/L$/, '');
        if (!/^-?\d+$/.test(text)) fail(`pickle: bad LONG "${text}"`);
        const v = BigInt(text);
        stack.push(Number.isSafeInteger(Number(v)) ? Number(v) : v);
        break;
      }
      case 0x8a: {
        // LONG1
        const n = bytes[need(1, 'LONG1')];
        stack.push(decodeLong(need(n, 'LONG1'), n));
        break;
      }
      case 0x8b: {
        // LONG4
        const n = view.getInt32(need(4, 'LONG4'), true);
        if (n > 64) fail(`pickle: ${n}-byte integer at byte ${opcodeAt} is not a plausible value`);
        stack.push(decodeLong(need(n, 'LONG4'), n));
        break;
      }
      case 0x46: {
        // FLOAT (text)
        const v = Number(readLine('FLOAT'));
        stack.push(v);
        break;
      }
      case 0x47: // BINFLOAT (big-endian)
        stack.push(view.getFloat64(need(8, 'BINFLOAT'), false));
        break;
      case 0x58: {
        // BINUNICODE
        const n = view.getUint32(need(4, 'BINUNICODE'), true);
        stack.push(decodeUtf8(need(n, 'BINUNICODE'), n));
        break;
      }
      case 0x8c: {
        // SHORT_BINUNICODE
        const n = bytes[need(1, 'SHORT_BINUNICODE')];
        stack.push(decodeUtf8(need(n, 'SHORT_BINUNICODE'), n));
        break;
      }
      case 0x8d: {
        // BINUNICODE8
        const n = Number(view.getBigUint64(need(8, 'BINUNICODE8'), true));
        stack.push(decodeUtf8(need(n, 'BINUNICODE8'), n));
        break;
      }
      case 0x56: // UNICODE (raw-unicode-escape line; state dicts use it only for ASCII keys)
        stack.push(readLine('UNICODE'));
        break;
      case 0x53: {
        // STRING (quoted repr)
        const text = readLine('STRING');
        const quoted = /^(['"])(.*)\1$/.exec(text);
        if (!quoted) fail(`pickle: bad STRING at byte ${opcodeAt}`);
        stack.push(quoted![2]);
        break;
      }
      case 0x54: {
        // BINSTRING
        const n = view.getInt32(need(4, 'BINSTRING'), true);
        const at = need(n, 'BINSTRING');
        stack.push(latin1.decode(bytes.subarray(at, at + n)));
        break;
      }
      case 0x55: {
        // SHORT_BINSTRING
        const n = bytes[need(1, 'SHORT_BINSTRING')];
        const at = need(n, 'SHORT_BINSTRING');
        stack.push(latin1.decode(bytes.subarray(at, at + n)));
        break;
      }
      case 0x42: {
        // BINBYTES
        const n = view.getUint32(need(4, 'BINBYTES'), true);
        const at = need(n, 'BINBYTES');
        stack.push(bytes.slice(at, at + n));
        break;
      }
      case 0x43: {
        // SHORT_BINBYTES
        const n = bytes[need(1, 'SHORT_BINBYTES')];
        const at = need(n, 'SHORT_BINBYTES');
        stack.push(bytes.slice(at, at + n));
        break;
      }
      case 0x8e:
      case 0x96: {
        // BINBYTES8, BYTEARRAY8
        const n = Number(view.getBigUint64(need(8, 'BINBYTES8'), true));
        const at = need(n, 'BINBYTES8');
        stack.push(bytes.slice(at, at + n));
        break;
      }
      case 0x29: // EMPTY_TUPLE
        stack.push(new PyTuple([]));
        break;
      case 0x74: // TUPLE
        stack.push(new PyTuple(popMark()));
        break;
      case 0x85: // TUPLE1
        stack.push(new PyTuple([pop()]));
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        const a = pop();
        stack.push(new PyTuple([a, b]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        const a = pop();
        stack.push(new PyTuple([a, b, c]));
        break;
      }
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x61: {
        // APPEND
        const v = pop();
        appendItems(top(), [v]);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case 0x7d: // EMPTY_DICT
        stack.push(new PyDict());
        break;
      case 0x64: {
        // DICT
        const d = new PyDict();
        setItems(d, popMark());
        stack.push(d);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x8f: // EMPTY_SET
        stack.push([]);
        break;
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case 0x91: // FROZENSET
        stack.push(popMark());
        break;
      case 0x63: {
        // GLOBAL
        const module = readLine('GLOBAL module');
        const name = readLine('GLOBAL name');
        stack.push(resolveGlobal(module, name));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') {
          fail(`pickle: STACK_GLOBAL needs two strings at byte ${opcodeAt}`);
        }
        stack.push(resolveGlobal(module as string, name as string));
        break;
      }
      case 0x69: {
        // INST: class from two lines, arguments since MARK
        const module = readLine('INST module');
        const name = readLine('INST name');
        const g = resolveGlobal(module, name);
        stack.push(call(g, new PyTuple(popMark())));
        break;
      }
      case 0x6f: {
        // OBJ: class and arguments since MARK
        const items = popMark();
        if (items.length === 0) fail(`pickle: OBJ without a class at byte ${opcodeAt}`);
        stack.push(call(items[0], new PyTuple(items.slice(1))));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const callable = pop();
        stack.push(call(callable, args));
        break;
      }
      case 0x81: {
        // NEWOBJ: cls.__new__(cls, *args)
        const args = pop();
        const cls = pop();
        stack.push(call(cls, args));
        break;
      }
      case 0x92: {
        // NEWOBJ_EX
        pop(); // kwargs
        const args = pop();
        const cls = pop();
        stack.push(call(cls, args));
        break;
      }
      case 0x62: {
        // BUILD: object state. Dicts keep it as attributes; tensors carry none we need.
        const state = pop();
        const target = top();
        if (target instanceof PyDict) target.attributes = state;
        else if (typeof target !== 'object' || target === null) {
          fail(`pickle: BUILD on a ${typeof target} at byte ${opcodeAt}`);
        }
        break;
      }
      case 0x70: {
        // PUT (text)
        const index = Number.parseInt(readLine('PUT'), 10);
        if (!Number.isSafeInteger(index)) fail(`pickle: bad PUT at byte ${opcodeAt}`);
        memo.set(index, top());
        break;
      }
      case 0x71: // BINPUT
        memo.set(bytes[need(1, 'BINPUT')], top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(view.getUint32(need(4, 'LONG_BINPUT'), true), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x67:
      case 0x68:
      case 0x6a: {
        // GET, BINGET, LONG_BINGET
        const index =
          op === 0x67
            ? Number.parseInt(readLine('GET'), 10)
            : op === 0x68
              ? bytes[need(1, 'BINGET')]
              : view.getUint32(need(4, 'LONG_BINGET'), true);
        if (!memo.has(index)) fail(`pickle: memo entry ${index} is missing at byte ${opcodeAt}`);
        stack.push(memo.get(index));
        break;
      }
      case 0x50:
      case 0x51: {
        // PERSID, BINPERSID
        const pid = op === 0x50 ? readLine('PERSID') : pop();
        if (!options.persistentLoad) fail('pickle: persistent ids are not expected in this file');
        stack.push(options.persistentLoad!(pid));
        break;
      }
      default:
        fail(
          `pickle opcode 0x${op.toString(16).padStart(2, '0')} at byte ${opcodeAt} is not supported (corrupt data, or not a PyTorch state dict)`,
        );
    }
  }
  return fail('pickle data ends without a STOP opcode (truncated)');
}
