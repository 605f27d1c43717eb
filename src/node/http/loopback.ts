/**
 * @module
 * Is a listen address reachable only from this machine? The operations listener (`/status`,
 * `/metrics`) has no authentication, so `kms-server` binds it to a loopback address unless the
 * operator explicitly asks otherwise (issue 12). Loopback here is 127.0.0.0/8, ::1 (and
 * 127.0.0.0/8 written as IPv4-mapped IPv6), or the name `localhost`. Any other name, however
 * local it sounds, is not: the system resolver decides where it points. After binding, the
 * node checks the addresses it actually got with `isLoopbackAddress` (a `localhost` that an
 * /etc/hosts entry points elsewhere is caught there).
 */
import { BlockList, isIP } from 'node:net';

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** An IP literal in a loopback range (`BlockList` also matches IPv4-mapped IPv6). */
export function isLoopbackAddress(address: string): boolean {
  const ip = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  const family = isIP(ip);
  if (family === 0) return false;
  return LOOPBACK.check(ip, family === 6 ? 'ipv6' : 'ipv4');
}

/** A host to listen on that names only this machine: a loopback IP literal or `localhost`. */
export function isLoopbackHost(host: string): boolean {
  return host.toLowerCase() === 'localhost' || isLoopbackAddress(host);
}
