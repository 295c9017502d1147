-- What a fresh Supabase project has before the app's migrations run: the API roles, Supabase's
-- default privileges on `public`, the `extensions` schema, the empty `supabase_realtime`
-- publication, the `storage` schema with its policy helpers, and the parts of the `auth` schema
-- that GoTrue and the runbook use. Written after supabase/postgres's init scripts and
-- supabase/storage's tenant migrations; only what an app's SQL can see or use is here.
--
-- The extensions every project has (`uuid-ossp` and `pgcrypto` in `extensions`) are created by
-- database.py when the PostgreSQL build has them (the embedded build has neither); `pg_cron` and
-- `pg_net` are left for the app to create, as on Supabase, and preloaded where the build has them.


-- Roles ----------------------------------------------------------------------------------------
create role anon nologin noinherit;
create role authenticated nologin noinherit;
create role service_role nologin noinherit bypassrls;
-- PostgREST connects as `authenticator` and switches to the request's role inside a transaction.
create role authenticator login noinherit;
grant anon, authenticated, service_role to authenticator;
create role supabase_auth_admin login noinherit createrole;
-- The platform's own roles, which an app's SQL may name in grants or ownership. On Supabase
-- `supabase_admin` is the superuser; here `postgres` stays one (see database.py), so it cannot log in.
create role supabase_admin nologin superuser createdb createrole replication bypassrls;
create role supabase_storage_admin nologin noinherit createrole;
create role dashboard_user nologin createdb createrole replication;

-- Statement timeouts of the API roles, as Supabase sets them.
alter role anon set statement_timeout = '3s';
alter role authenticated set statement_timeout = '8s';

-- Supabase's default privileges: everything new in `public` is granted to the API roles. This is
-- faithful on purpose: a migration that forgets to revoke leaves objects open, as on a real project.
grant usage on schema public to anon, authenticated, service_role;
alter default privileges in schema public grant all on tables to anon, authenticated, service_role;
alter default privileges in schema public grant all on functions to anon, authenticated, service_role;
alter default privileges in schema public grant all on sequences to anon, authenticated, service_role;

-- extensions schema and the realtime publication ---------------------------------------------
create schema extensions;
grant usage on schema extensions to postgres, anon, authenticated, service_role;
grant all on schema extensions to dashboard_user;
-- Unqualified calls such as digest() or uuid_generate_v4() resolve as they do on Supabase.
alter role postgres set search_path to "$user", public, extensions;
alter role supabase_admin set search_path to "$user", public, auth, extensions;
set search_path to "$user", public, extensions;

-- Realtime streams the tables an app adds to this publication; it starts empty.
create publication supabase_realtime;


-- auth schema ----------------------------------------------------------------------------------
create schema auth authorization supabase_auth_admin;
grant usage on schema auth to anon, authenticated, service_role;

create table auth.users (
    instance_id uuid,
    id uuid primary key,
    aud varchar(255),
    role varchar(255),
    email varchar(255),
    encrypted_password varchar(255),
    email_confirmed_at timestamptz,
    invited_at timestamptz,
    confirmation_token varchar(255) default '',
    confirmation_sent_at timestamptz,
    recovery_token varchar(255) default '',
    recovery_sent_at timestamptz,
    email_change_token_new varchar(255) default '',
    email_change varchar(255) default '',
    email_change_sent_at timestamptz,
    last_sign_in_at timestamptz,
    raw_app_meta_data jsonb,
    raw_user_meta_data jsonb,
    is_super_admin boolean,
    created_at timestamptz,
    updated_at timestamptz,
    phone text unique default null,
    phone_confirmed_at timestamptz,
    phone_change text default '',
    phone_change_token varchar(255) default '',
    phone_change_sent_at timestamptz,
    confirmed_at timestamptz generated always as (least(email_confirmed_at, phone_confirmed_at)) stored,
    email_change_token_current varchar(255) default '',
    email_change_confirm_status smallint default 0,
    banned_until timestamptz,
    reauthentication_token varchar(255) default '',
    reauthentication_sent_at timestamptz,
    is_sso_user boolean not null default false,
    deleted_at timestamptz,
    is_anonymous boolean not null default false
);
create unique index users_email_partial_key on auth.users (email) where (is_sso_user = false);
create index users_instance_id_email_idx on auth.users (instance_id, lower(email));

create table auth.identities (
    provider_id text not null,
    user_id uuid not null references auth.users (id) on delete cascade,
    identity_data jsonb not null,
    provider text not null,
    last_sign_in_at timestamptz,
    created_at timestamptz,
    updated_at timestamptz,
    email text generated always as (lower(identity_data ->> 'email')) stored,
    id uuid primary key default gen_random_uuid(),
    unique (provider_id, provider)
);
create index identities_user_id_idx on auth.identities (user_id);

create table auth.sessions (
    id uuid primary key,
    user_id uuid not null references auth.users (id) on delete cascade,
    created_at timestamptz,
    updated_at timestamptz,
    factor_id uuid,
    aal text,
    not_after timestamptz,
    refreshed_at timestamp,
    user_agent text,
    ip inet,
    tag text
);
create index sessions_user_id_idx on auth.sessions (user_id);

create table auth.refresh_tokens (
    instance_id uuid,
    id bigserial primary key,
    token varchar(255) unique,
    user_id varchar(255),
    revoked boolean,
    created_at timestamptz,
    updated_at timestamptz,
    parent varchar(255),
    session_id uuid references auth.sessions (id) on delete cascade
);
create index refresh_tokens_session_id_revoked_idx on auth.refresh_tokens (session_id, revoked);

create table auth.audit_log_entries (
    instance_id uuid,
    id uuid primary key,
    payload json,
    created_at timestamptz,
    ip_address varchar(64) not null default ''
);

create table auth.flow_state (
    id uuid primary key,
    user_id uuid,
    auth_code text not null,
    code_challenge_method text not null check (code_challenge_method in ('s256', 'plain')),
    code_challenge text not null,
    provider_type text not null,
    provider_access_token text,
    provider_refresh_token text,
    created_at timestamptz,
    updated_at timestamptz,
    authentication_method text not null,
    auth_code_issued_at timestamptz
);
create index idx_auth_code on auth.flow_state (auth_code);

-- How each session was authenticated: the `amr` claim of its access tokens.
create table auth.mfa_amr_claims (
    session_id uuid not null references auth.sessions (id) on delete cascade,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    authentication_method text not null,
    id uuid primary key,
    unique (session_id, authentication_method)
);

alter table auth.users owner to supabase_auth_admin;
alter table auth.mfa_amr_claims owner to supabase_auth_admin;
alter table auth.identities owner to supabase_auth_admin;
alter table auth.sessions owner to supabase_auth_admin;
alter table auth.refresh_tokens owner to supabase_auth_admin;
alter table auth.audit_log_entries owner to supabase_auth_admin;
alter table auth.flow_state owner to supabase_auth_admin;

-- The request helpers, as Supabase defines them: read the claims PostgREST set for this request.
create or replace function auth.uid() returns uuid
language sql stable as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
  )::uuid
$$;

create or replace function auth.role() returns text
language sql stable as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.role', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
  )::text
$$;

create or replace function auth.email() returns text
language sql stable as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.email', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email')
  )::text
$$;

create or replace function auth.jwt() returns jsonb
language sql stable as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim', true), ''),
    nullif(current_setting('request.jwt.claims', true), '')
  )::jsonb
$$;

alter function auth.uid() owner to supabase_auth_admin;
alter function auth.role() owner to supabase_auth_admin;
alter function auth.email() owner to supabase_auth_admin;
alter function auth.jwt() owner to supabase_auth_admin;
grant execute on function auth.uid(), auth.role(), auth.email(), auth.jwt()
    to anon, authenticated, service_role;


-- storage schema -------------------------------------------------------------------------------
-- The tables Storage keeps its metadata in (supabase/storage's tenant migrations up to the
-- current columns) and the helpers that storage policies call on an object's name.
create schema storage authorization supabase_admin;
grant usage on schema storage to postgres, anon, authenticated, service_role;
grant all on schema storage to supabase_storage_admin with grant option;
alter default privileges for role supabase_storage_admin in schema storage
    grant all on tables to postgres, anon, authenticated, service_role;
alter default privileges for role supabase_storage_admin in schema storage
    grant all on functions to postgres, anon, authenticated, service_role;
alter default privileges for role supabase_storage_admin in schema storage
    grant all on sequences to postgres, anon, authenticated, service_role;
alter role supabase_storage_admin set search_path = storage;

set role supabase_storage_admin;

create table storage.migrations (
    id integer primary key,
    name varchar(100) unique not null,
    hash varchar(40) not null,
    executed_at timestamp default current_timestamp
);

create table storage.buckets (
    id text primary key,
    name text not null,
    owner uuid,  -- deprecated by Storage in favour of owner_id
    owner_id text,
    created_at timestamptz default now(),
    updated_at timestamptz default now(),
    public boolean default false,
    avif_autodetection boolean default false,
    file_size_limit bigint,
    allowed_mime_types text[],
    constraint buckets_name_length_check check (length(name) > 0 and length(name) < 64)
);
create unique index bname on storage.buckets using btree (name);

create table storage.objects (
    id uuid primary key default gen_random_uuid(),
    bucket_id text constraint "objects_bucketId_fkey" references storage.buckets (id),
    name text,
    owner uuid,  -- deprecated by Storage in favour of owner_id
    owner_id text,
    created_at timestamptz default now(),
    updated_at timestamptz default now(),
    last_accessed_at timestamptz default now(),
    metadata jsonb,
    path_tokens text[] generated always as (string_to_array(name, '/')) stored,
    version text,
    user_metadata jsonb
);
create unique index bucketid_objname on storage.objects using btree (bucket_id, name);
create index name_prefix_search on storage.objects (name text_pattern_ops);
-- Closed until the app's policies open it, as on every project.
alter table storage.objects enable row level security;

-- The folders of an object's name: 'avatars/<uid>/a.png' → {avatars,<uid>}.
create function storage.foldername(name text) returns text[]
language plpgsql as $$
declare
    parts text[] := string_to_array(name, '/');
begin
    return parts[1:array_length(parts, 1) - 1];
end
$$;

-- The last segment of an object's name: 'avatars/<uid>/a.png' → 'a.png'.
create function storage.filename(name text) returns text
language plpgsql as $$
declare
    parts text[] := string_to_array(name, '/');
begin
    return parts[array_length(parts, 1)];
end
$$;

-- What follows the last dot of the file name: 'avatars/<uid>/a.tar.gz' → 'gz'.
create function storage.extension(name text) returns text
language plpgsql as $$
declare
    parts text[] := string_to_array(name, '/');
begin
    return reverse(split_part(reverse(parts[array_length(parts, 1)]), '.', 1));
end
$$;

-- Bytes stored per bucket (what the dashboard's usage shows).
create function storage.get_size_by_bucket() returns table (size bigint, bucket_id text)
language plpgsql stable as $$
begin
    return query
        select sum((o.metadata ->> 'size')::bigint)::bigint, o.bucket_id
        from storage.objects o
        group by o.bucket_id;
end
$$;

reset role;
grant all on all tables in schema storage to postgres, service_role, dashboard_user;
