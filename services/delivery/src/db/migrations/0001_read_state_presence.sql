CREATE TABLE IF NOT EXISTS "edges_vivos" (
	"edge_id" text PRIMARY KEY NOT NULL,
	"visto_en" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS "marcadores_lectura" (
	"usuario_id" bigint NOT NULL,
	"sala_chat_id" bigint NOT NULL,
	"mensaje_id" bigint NOT NULL,
	"actualizado_en" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "marcadores_lectura_usuario_id_sala_chat_id_pk" PRIMARY KEY("usuario_id","sala_chat_id")
);
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS "presencia" (
	"usuario_id" bigint NOT NULL,
	"edge_id" text NOT NULL,
	"desde" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "presencia_usuario_id_edge_id_pk" PRIMARY KEY("usuario_id","edge_id")
);
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS "ultima_conexion" (
	"usuario_id" bigint PRIMARY KEY NOT NULL,
	"visto_en" timestamp with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "destinatarios_mensaje" ADD COLUMN IF NOT EXISTS "sala_chat_id" bigint;--> statement-breakpoint
-- Rows recorded before the column existed take their room from the dispatch.
UPDATE "destinatarios_mensaje" r SET "sala_chat_id" = d."sala_chat_id" FROM "despachos_mensaje" d WHERE d."mensaje_id" = r."mensaje_id" AND r."sala_chat_id" IS NULL;--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "presencia_edge_idx" ON "presencia" USING btree ("edge_id");--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "destinatarios_mensaje_no_leidos_idx" ON "destinatarios_mensaje" USING btree ("destinatario_id","sala_chat_id","mensaje_id") WHERE "destinatarios_mensaje"."leido_en" is null;
