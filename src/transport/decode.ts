/**
 * Response decoding for the undici transport, matching axios's http adapter: which encodings
 * are decoded (gzip, x-gzip, compress, x-compress, deflate in zlib or raw framing, br, zstd
 * where Node has it), flushing so that an empty or trailer-less body decodes to what it holds
 * instead of failing, and the text conversion (with the UTF-8 byte-order mark stripped).
 */
import { Transform, type TransformCallback } from 'node:stream';
import zlib from 'node:zlib';

const ZLIB: zlib.ZlibOptions = {
  flush: zlib.constants.Z_SYNC_FLUSH,
  finishFlush: zlib.constants.Z_SYNC_FLUSH,
};
const BROTLI: zlib.BrotliOptions = {
  flush: zlib.constants.BROTLI_OPERATION_FLUSH,
  finishFlush: zlib.constants.BROTLI_OPERATION_FLUSH,
};

type ZstdFactory = (options?: object) => Transform;
const createZstd = (zlib as unknown as { createZstdDecompress?: ZstdFactory }).createZstdDecompress;
const ZSTD = {
  flush: (zlib.constants as Record<string, number>).ZSTD_e_flush,
  finishFlush: (zlib.constants as Record<string, number>).ZSTD_e_flush,
};

/** What axios advertises, and so what this transport can decode. */
export const ACCEPT_ENCODING = 'gzip, compress, deflate, br';
/** With `transitional.advertiseZstdAcceptEncoding` on a Node that decodes zstd. */
export const ACCEPT_ENCODING_ZSTD = createZstd ? `${ACCEPT_ENCODING}, zstd` : ACCEPT_ENCODING;

/**
 * "deflate" should be zlib-framed (RFC 1950), but servers also send raw DEFLATE (RFC 1951).
 * A zlib stream starts with 0x78 for every window size servers use; anything else is taken as
 * raw and given a zlib header, so one inflater takes both (the missing checksum is tolerated
 * by the sync-flush finish).
 */
class ZlibFraming extends Transform {
  #checked = false;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    if (!this.#checked && chunk.length > 0) {
      this.#checked = true;
      if (chunk[0] !== 0x78) this.push(Buffer.from([0x78, 0x9c]));
    }
    done(null, chunk);
  }
}

/**
 * The decoder chain for a Content-Encoding value, or undefined when axios leaves that encoding
 * alone (identity, unknown, or several encodings listed).
 */
export function decoders(encoding: string): Transform[] | undefined {
  switch (encoding.toLowerCase()) {
    case 'gzip':
    case 'x-gzip':
    case 'compress':
    case 'x-compress':
      return [zlib.createUnzip(ZLIB)];
    case 'deflate':
      return [new ZlibFraming(), zlib.createUnzip(ZLIB)];
    case 'br':
      return [zlib.createBrotliDecompress(BROTLI)];
    case 'zstd':
      return createZstd ? [createZstd(ZSTD)] : undefined;
    default:
      return undefined;
  }
}

/** The body as axios gives it: a Buffer for 'arraybuffer', else text, without a UTF-8 BOM. */
export function bodyData(
  buffer: Buffer,
  responseType: string | undefined,
  encoding: string | undefined,
): unknown {
  if (responseType === 'arraybuffer') return buffer;
  const text = buffer.toString((encoding as BufferEncoding | undefined) ?? 'utf8');
  return (!encoding || encoding === 'utf8') && text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}
