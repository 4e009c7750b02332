/** The text of a proxied reply's body, whole (a `Buffer`) or streamed. */
import type { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';

export async function bodyText(body: Buffer | Readable): Promise<string> {
  return Buffer.isBuffer(body) ? body.toString('utf8') : text(body);
}
