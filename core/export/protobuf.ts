/**
 * A minimal protobuf wire-format encoder for the messages the exporters write (ONNX ModelProto,
 * TensorBoard Event). Messages are built bottom-up: each field appends its tag and value;
 * nested messages are encoded first and appended as length-delimited bytes. Tests decode the
 * output with the official protobuf runtime (python3-protobuf, onnx).
 */

const encoder = new TextEncoder();

/** Appends fields of one message; `finish()` returns its bytes. */
export class ProtoWriter {
  private chunks: Uint8Array[] = [];
  private length = 0;

  private push(bytes: Uint8Array): void {
    this.chunks.push(bytes);
    this.length += bytes.length;
  }

  private varintBytes(value: number | bigint): Uint8Array {
    let v = BigInt.asUintN(64, BigInt(value));
    const out: number[] = [];
    while (v >= 0x80n) {
      out.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    out.push(Number(v));
    return Uint8Array.from(out);
  }

  private tag(field: number, wireType: number): void {
    this.push(this.varintBytes((field << 3) | wireType));
  }

  /** int32/int64/uint64/bool/enum field (negative numbers as 10-byte two's complement). */
  varint(field: number, value: number | bigint | boolean): this {
    this.tag(field, 0);
    this.push(this.varintBytes(typeof value === 'boolean' ? (value ? 1 : 0) : value));
    return this;
  }

  /** `double` field. */
  double(field: number, value: number): this {
    this.tag(field, 1);
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, value, true);
    this.push(b);
    return this;
  }

  /** `float` field. */
  float(field: number, value: number): this {
    this.tag(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.push(b);
    return this;
  }

  /** `bytes` or embedded-message field. */
  bytes(field: number, value: Uint8Array): this {
    this.tag(field, 2);
    this.push(this.varintBytes(value.length));
    this.push(value);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, encoder.encode(value));
  }

  message(field: number, build: (w: ProtoWriter) => void): this {
    const inner = new ProtoWriter();
    build(inner);
    return this.bytes(field, inner.finish());
  }

  /** Packed repeated `double`. */
  packedDoubles(field: number, values: ArrayLike<number>): this {
    const b = new Uint8Array(values.length * 8);
    const view = new DataView(b.buffer);
    for (let i = 0; i < values.length; i++) view.setFloat64(i * 8, values[i], true);
    return this.bytes(field, b);
  }

  /** Packed repeated int64 / int32 varints. */
  packedVarints(field: number, values: ArrayLike<number>): this {
    const inner = new ProtoWriter();
    for (let i = 0; i < values.length; i++) inner.push(inner.varintBytes(values[i]));
    return this.bytes(field, inner.finish());
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.length);
    let offset = 0;
    for (const c of this.chunks) {
      out.set(c, offset);
      offset += c.length;
    }
    return out;
  }
}
