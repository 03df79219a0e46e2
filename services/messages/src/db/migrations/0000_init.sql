DO $$ BEGIN
	CREATE TYPE "public"."tipo_mensaje_enum" AS ENUM('texto', 'imagen', 'archivo', 'audio', 'sistema');
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;--> statement-breakpoint
CREATE TABLE IF NOT EXISTS "mensajes" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"mensaje_uuid" uuid DEFAULT gen_random_uuid() NOT NULL,
	"sala_chat_id" bigint NOT NULL,
	"remitente_id" bigint NOT NULL,
	"tipo_mensaje" "tipo_mensaje_enum" DEFAULT 'texto' NOT NULL,
	"contenido" text,
	"url_archivo" text,
	"metadatos" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"enviado_en" timestamp with time zone DEFAULT now() NOT NULL,
	"editado_en" timestamp with time zone,
	"eliminado_en" timestamp with time zone,
	CONSTRAINT "mensajes_mensaje_uuid_unique" UNIQUE("mensaje_uuid")
);
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS "mensajes_cliente" (
	"mensaje_id" bigint PRIMARY KEY NOT NULL,
	"remitente_id" bigint NOT NULL,
	"client_msg_id" text,
	"client_timestamp" text
);
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS "mensajes_despacho_pendiente" (
	"mensaje_id" bigint PRIMARY KEY NOT NULL,
	"origen" text DEFAULT '' NOT NULL,
	"intentos" integer DEFAULT 0 NOT NULL,
	"proximo_intento" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "mensajes_sala_id_idx" ON "mensajes" USING btree ("sala_chat_id","id");--> statement-breakpoint
CREATE UNIQUE INDEX IF NOT EXISTS "mensajes_cliente_idempotencia_idx" ON "mensajes_cliente" USING btree ("remitente_id","client_msg_id") WHERE "mensajes_cliente"."client_msg_id" is not null;--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "mensajes_despacho_pendiente_proximo_idx" ON "mensajes_despacho_pendiente" USING btree ("proximo_intento");