import { DEFAULT_PORTS, readBaseServiceConfig, type BaseServiceConfig, type Env } from "@redup/kit";

export type Config = BaseServiceConfig;

/** The only reader of the environment for the rooms service. */
export function loadConfig(env: Env = process.env): Config {
  return readBaseServiceConfig("rooms", env, DEFAULT_PORTS.rooms);
}
