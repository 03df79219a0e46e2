// Rewrites a freshly generated drizzle-kit migration so it never fails on what exists:
// an existing upred_db already has the guide's tables and enum types. Run it on a new
// migration file before committing it (never on one that has landed):
//   node scripts/idempotent-migration.mjs services/<svc>/src/db/migrations/<file>.sql
import { readFileSync, writeFileSync } from "node:fs";

for (const file of process.argv.slice(2)) {
  const sql = readFileSync(file, "utf8")
    .replace(/CREATE TABLE "/g, 'CREATE TABLE IF NOT EXISTS "')
    .replace(/CREATE (UNIQUE )?INDEX "/g, (_m, unique) => `CREATE ${unique ?? ""}INDEX IF NOT EXISTS "`)
    .replace(
      /CREATE TYPE ("[^"]+"\."[^"]+") AS ENUM\(([^)]*)\);/g,
      "DO $$$$ BEGIN\n\tCREATE TYPE $1 AS ENUM($2);\nEXCEPTION WHEN duplicate_object THEN NULL;\nEND $$$$;",
    )
    .replace(/ALTER TABLE ("[^"]+") ADD COLUMN "/g, 'ALTER TABLE $1 ADD COLUMN IF NOT EXISTS "');
  writeFileSync(file, sql);
}
