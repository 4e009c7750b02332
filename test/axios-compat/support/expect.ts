/**
 * Expected outcomes, stated once per case: a response (and what must hold of it), an error of a
 * given class and code, or the mesh's documented refusal.
 */
import { AxiosError, type AxiosResponse } from 'axios';
import { MeshError, type MeshErrorCode } from 'mesh-client';
import { expect } from 'vitest';
import type { Ctx, Expectation, Result } from './harness.js';

/** What a case sees of an error: axios's fields, plus the mesh's `code` strings. */
export type Thrown = AxiosError<unknown, unknown> & { cause?: unknown };

function unexpected(r: Result): Error {
  if (r.ok) return new Error(`expected a rejection, got ${JSON.stringify(summary(r.value))}`);
  const e = r.err as { constructor?: { name?: string }; code?: string; message?: string };
  return new Error(`expected a resolution, got ${e?.constructor?.name} ${e?.code ?? ''}: ${e?.message}`);
}

function summary(v: unknown): unknown {
  const res = v as AxiosResponse | undefined;
  return typeof res?.status === 'number' ? { status: res.status, data: res.data } : v;
}

/** The run resolves; `check` says what must hold of the value (an AxiosResponse unless the case says). */
export function resolves<T = AxiosResponse>(
  label: string,
  check?: (value: T, ctx: Ctx) => void | Promise<void>,
): Expectation {
  return {
    label,
    async check(r, ctx) {
      if (!r.ok) throw unexpected(r);
      await check?.(r.value as T, ctx);
    },
  };
}

type ErrorClass = abstract new (...args: never[]) => unknown;

export interface ErrorShape {
  cls?: ErrorClass;
  code?: string | undefined;
  message?: string | RegExp;
  status?: number;
  check?: (err: Thrown, ctx: Ctx) => void | Promise<void>;
}

/** The run rejects with an error of this shape. */
export function rejects(label: string, shape: ErrorShape): Expectation {
  return {
    label,
    async check(r, ctx) {
      if (r.ok) throw unexpected(r);
      const err = r.err as Thrown;
      expect(err).toBeInstanceOf(shape.cls ?? AxiosError);
      if ('code' in shape) expect(err.code).toBe(shape.code);
      if (typeof shape.message === 'string') expect(err.message).toBe(shape.message);
      else if (shape.message) expect(err.message).toMatch(shape.message);
      if (shape.status !== undefined) expect(err.response?.status).toBe(shape.status);
      await shape.check?.(err, ctx);
    },
  };
}

/** An AxiosError with this code (and message). */
export function axiosError(code: string | undefined, message?: string | RegExp, extra?: Partial<ErrorShape>) {
  const label = `AxiosError ${code ?? '(no code)'}${message ? `: ${String(message)}` : ''}`;
  return rejects(label, { cls: AxiosError, code, ...(message ? { message } : {}), ...extra });
}

/** The mesh's documented refusal: a MeshError with this code. */
export function refused(code: MeshErrorCode = 'MESH_BAD_REQUEST', message?: RegExp): Expectation {
  return rejects(`MeshError ${code}${message ? ` (${String(message)})` : ''}`, {
    cls: MeshError,
    code,
    ...(message ? { message } : {}),
  });
}

/** Read a response stream to its end (or its error) as text. */
export async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += chunk.toString();
  return text;
}
