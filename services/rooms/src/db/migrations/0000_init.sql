-- Idempotent on purpose: an existing upred_db already has salas_chat (with foreign keys to
-- usuarios and grupos) and tipo_sala_chat_enum; those are kept as they are.
DO $$ BEGIN
	CREATE TYPE "public"."tipo_sala_chat_enum" AS ENUM('directo', 'grupal');
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;--> statement-breakpoint
CREATE TABLE IF NOT EXISTS "chat_miembros_grupo" (
	"grupo_id" bigint NOT NULL,
	"usuario_id" bigint NOT NULL,
	"unido_en" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "chat_miembros_grupo_grupo_id_usuario_id_pk" PRIMARY KEY("grupo_id","usuario_id")
);
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS "salas_chat" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"sala_uuid" uuid DEFAULT gen_random_uuid() NOT NULL,
	"tipo_sala" "tipo_sala_chat_enum" NOT NULL,
	"usuario_a_id" bigint,
	"usuario_b_id" bigint,
	"grupo_id" bigint,
	"creado_en" timestamp with time zone DEFAULT now() NOT NULL,
	"actualizado_en" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "salas_chat_sala_uuid_unique" UNIQUE("sala_uuid")
);
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "chat_miembros_grupo_usuario_idx" ON "chat_miembros_grupo" USING btree ("usuario_id","grupo_id");--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "salas_chat_directo_par_idx" ON "salas_chat" USING btree (least("usuario_a_id", "usuario_b_id"),greatest("usuario_a_id", "usuario_b_id")) WHERE "salas_chat"."tipo_sala" = 'directo';--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "salas_chat_grupo_idx" ON "salas_chat" USING btree ("grupo_id") WHERE "salas_chat"."tipo_sala" = 'grupal';
