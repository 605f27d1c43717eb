/**
 * @module
 * Public key material (SPEC 5): `GET /pubkey` → MPK, public polynomial, version, threshold,
 * operators. Nothing here is secret, but the response schema still lists every field, so an
 * implementation of `pubkey()` that returns a richer object cannot leak the rest.
 */
import type { FastifyPluginAsync } from 'fastify';
import { ApiError } from '../errors.ts';
import { ERROR_RESPONSES, PubkeyInfo, PubkeyQuery, type TypeBoxProvider } from '../schemas.ts';

export interface KeysRoutesOptions {
  /**
   * The active version's public data (no argument) or that of version `version`; null before
   * genesis, or when this node does not hold that version.
   */
  readonly pubkey: (version?: number) => PubkeyInfo | null;
  /** Why no version is served although genesis completed (a stale key store), or null. */
  readonly notReady?: () => string | null;
}

export const keysRoutes: FastifyPluginAsync<KeysRoutesOptions> = async (fastify, opts) => {
  const app = fastify.withTypeProvider<TypeBoxProvider>();

  app.get(
    '/pubkey',
    { schema: { querystring: PubkeyQuery, response: { 200: PubkeyInfo, ...ERROR_RESPONSES } } },
    async (request) => {
      const raw = request.query.version;
      if (raw === undefined) {
        const info = opts.pubkey();
        if (info === null) throw new ApiError(503, 'not-ready', opts.notReady?.() ?? 'no key yet: genesis has not completed');
        return info;
      }
      const version = Number(raw); // ≤ 12 digits by schema: exact as a double
      const info = opts.pubkey(version);
      // `info.version` is checked too: an implementation that ignores the argument must not
      // hand out the active version under another version's name.
      if (info !== null && info.version === version) return info;
      if (opts.pubkey() === null) throw new ApiError(503, 'not-ready', 'no key yet: genesis has not completed');
      throw new ApiError(404, 'unknown-version', `this node holds no key version ${version}`);
    },
  );
};
