CREATE TABLE IF NOT EXISTS "despachos_mensaje" (
	"mensaje_id" bigint PRIMARY KEY NOT NULL,
	"remitente_id" bigint NOT NULL,
	"sala_chat_id" bigint NOT NULL,
	"creado_en" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS "destinatarios_mensaje" (
	"mensaje_id" bigint NOT NULL,
	"destinatario_id" bigint NOT NULL,
	"entregado_en" timestamp with time zone,
	"leido_en" timestamp with time zone,
	"creado_en" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "destinatarios_mensaje_mensaje_id_destinatario_id_pk" PRIMARY KEY("mensaje_id","destinatario_id")
);
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "destinatarios_mensaje_pendientes_idx" ON "destinatarios_mensaje" USING btree ("destinatario_id","mensaje_id") WHERE "destinatarios_mensaje"."entregado_en" is null;