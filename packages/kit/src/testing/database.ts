import { randomBytes } from "node:crypto";
import pg from "pg";
import { DEFAULT_DATABASE_URL } from "../config.js";

/** The server tests create their databases on: TEST_DATABASE_URL, else DATABASE_URL, else local. */
export function adminDatabaseUrl(): string {
  return process.env["TEST_DATABASE_URL"] || process.env["DATABASE_URL"] || DEFAULT_DATABASE_URL;
}

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** A fresh, empty database for one test file; drop() removes it (and its connections). */
export async function createTestDatabase(label = "t"): Promise<TestDatabase> {
  const admin = adminDatabaseUrl();
  const name = `redup_${label}_${randomBytes(5).toString("hex")}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  try {
    await client.query(`create database "${name}"`);
  } finally {
    await client.end();
  }
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    async drop() {
      const c = new pg.Client({ connectionString: admin });
      await c.connect();
      try {
        await c.query(`drop database if exists "${name}" with (force)`);
      } finally {
        await c.end();
      }
    },
  };
}

/** Runs SQL against a database with a short-lived client (assertions on rows). */
export async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
