CREATE TABLE IF NOT EXISTS "cambios_recibo" (
	"pos" bigserial PRIMARY KEY NOT NULL,
	"xid" "xid8" DEFAULT pg_current_xact_id() NOT NULL,
	"remitente_id" bigint NOT NULL,
	"mensaje_id" bigint NOT NULL,
	"destinatario_id" bigint NOT NULL,
	"sala_chat_id" bigint,
	"leido" boolean NOT NULL,
	"en" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS "cambios_recibo_poda" (
	"id" integer PRIMARY KEY NOT NULL,
	"xid" "xid8" NOT NULL,
	"pos" bigint NOT NULL
);
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "cambios_recibo_remitente_idx" ON "cambios_recibo" USING btree ("remitente_id","xid","pos");--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "cambios_recibo_en_idx" ON "cambios_recibo" USING btree ("en");