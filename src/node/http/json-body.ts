/**
 * @module
 * The only body parser the API has: `application/json`, at most `bodyLimit` bytes (fastify
 * enforces that before we see the text), nested at most `MAX_JSON_DEPTH` deep, then parsed by
 * fastify's own secure parser (which refuses `__proto__` and `constructor.prototype` keys).
 *
 * Why a depth limit: neither JSON.parse nor fastify bounds nesting, and everything after the
 * parser (ajv, serializers, our handlers) walks values recursively. A 64 KiB body can nest
 * ~32 000 arrays. Our requests nest 2 deep; 32 leaves room without inviting a stack overflow.
 * The scan is one pass over the text with no allocation, much cheaper than the parse itself.
 */
import type { FastifyInstance } from 'fastify';
import { ApiError } from './errors.ts';

export const MAX_JSON_DEPTH = 32;

/** True when the JSON text opens more than `maxDepth` arrays/objects at once (strings skipped). */
export function jsonDepthExceeds(text: string, maxDepth: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \ */) i++; // the escaped character cannot end the string
      else if (c === 0x22 /* " */) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
      if (++depth > maxDepth) return true;
    } else if (c === 0x5d /* ] */ || c === 0x7d /* } */) {
      depth--; // unbalanced text goes below zero harmlessly: the parser rejects it next
    }
  }
  return false;
}

/**
 * Replaces every content-type parser with the JSON one above, so any other media type (even
 * text/plain, which fastify accepts by default) is a 415 before it reaches a schema.
 */
export function installJsonBodyParser(app: FastifyInstance, maxDepth = MAX_JSON_DEPTH): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body as string; // parseAs: 'string' guarantees it
    if (jsonDepthExceeds(text, maxDepth)) {
      done(new ApiError(400, 'json-too-deep', `JSON nested deeper than ${maxDepth} levels`), undefined);
      return;
    }
    parse(request, text, done);
  });
}
