//! JSON-schema building blocks shared by the status routes, and the validation message formatter.
// Response schemas double as an allow-list: fast-json-stringify drops any property not declared,
// so a column added to a query later cannot leak into a response unnoticed.
import type { FastifySchemaValidationError, FastifyServerOptions } from 'fastify';

type SchemaErrorDataVar = Parameters<NonNullable<FastifyServerOptions['schemaErrorFormatter']>>[1];

export const str = { type: 'string' } as const;
export const int = { type: 'integer' } as const;
export const num = { type: 'number' } as const;
export const bool = { type: 'boolean' } as const;
export const nullableStr = { type: ['string', 'null'] } as const;
export const nullableInt = { type: ['integer', 'null'] } as const;
export const nullableNum = { type: ['number', 'null'] } as const;

/** A closed object whose listed properties are all required. */
export function obj(properties: Record<string, unknown>): {
  type: 'object';
  additionalProperties: false;
  required: string[];
  properties: Record<string, unknown>;
} {
  return { type: 'object', additionalProperties: false, required: Object.keys(properties), properties };
}

/** An object with the same value schema under each of `keys`. */
export function keyed(keys: readonly string[], value: unknown): ReturnType<typeof obj> {
  return obj(Object.fromEntries(keys.map((k) => [k, value])));
}

/** Body of every 4xx/5xx answer. */
export const errorSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['error'],
  properties: { error: str, message: str },
} as const;

/** Turns Ajv errors into one sentence naming the parameter and what it must be. */
export function formatValidation(errors: FastifySchemaValidationError[], where: SchemaErrorDataVar): Error {
  const what = where === 'querystring' ? 'query parameter' : where === 'params' ? 'path parameter' : where;
  const parts = errors.map((e) => {
    const p = e.params;
    const name = e.instancePath.replace(/^\//, '') || (typeof p.missingProperty === 'string' ? p.missingProperty : '');
    const rule = Array.isArray(p.allowedValues)
      ? `must be one of: ${p.allowedValues.join(', ')}`
      : (e.message ?? 'is invalid');
    return `${what} '${name}' ${rule}`;
  });
  return new Error(parts.join('; '));
}
