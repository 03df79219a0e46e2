CREATE TABLE IF NOT EXISTS "cambios_poda" (
	"id" integer PRIMARY KEY NOT NULL,
	"xid" "xid8" NOT NULL,
	"pos" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS "cambios_sala" (
	"pos" bigserial PRIMARY KEY NOT NULL,
	"xid" "xid8" DEFAULT pg_current_xact_id() NOT NULL,
	"sala_chat_id" bigint NOT NULL,
	"mensaje_id" bigint NOT NULL,
	"tipo" text NOT NULL,
	"en" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "cambios_sala_sala_idx" ON "cambios_sala" USING btree ("sala_chat_id","xid","pos");--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "cambios_sala_en_idx" ON "cambios_sala" USING btree ("en");