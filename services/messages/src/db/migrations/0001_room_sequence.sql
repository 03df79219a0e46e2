CREATE TABLE IF NOT EXISTS "salas_secuencia" (
	"sala_chat_id" bigint PRIMARY KEY NOT NULL,
	"ultimo_seq" bigint NOT NULL,
	"ultimo_en" timestamp with time zone DEFAULT now() NOT NULL,
	"anterior_en" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "mensajes_despacho_pendiente" ADD COLUMN IF NOT EXISTS "seq_sala" bigint;--> statement-breakpoint
-- Every store rewrites its rooms' rows: room on each page lets PostgreSQL update them in place (HOT).
ALTER TABLE "salas_secuencia" SET (fillfactor = 70);
