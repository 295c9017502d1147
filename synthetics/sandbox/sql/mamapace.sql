-- Mamapace's own schema, as its repository leaves it: kkk9131/mamapace at b6833a4, the files of
-- supabase/sql/ in their numbered order and then supabase/migrations/, reduced to the objects the
-- v2 RPC flow, their v1 equivalents and the security surface need (sensitive tables included).
-- Each object is written in its FINAL state after every file has run: a later file's definition
-- replaces an earlier one, a `create or replace` with new argument types adds an overload (the
-- old function stays), and nothing here is ever dropped by the app. The file each definition
-- comes from is named above it. The bodies are the app's: no `set search_path`, no auth.uid()
-- guard where the app has none, its own error messages (some of which name tables).
--
-- Applied after supabase.sql, whose default privileges grant everything in `public` to anon,
-- authenticated and service_role (and Postgres grants EXECUTE to PUBLIC). Only the app's own
-- revokes follow here, so this file alone is the app's real, open state; hardening.sql then
-- closes it as the runbook's Security Incident Response does, and the `security.anon_grant`
-- fault (fault_anon_grant.sql) re-opens exactly what the app's SQL left open.
--
-- Left out on purpose (not reached by the v2 flow, its v1 equivalents or the sensitive tables):
-- chat (11-13), rooms and the anonymous room (14-18), blocks, reports and filtered views
-- (2025-09-10/11/12/13, incl. get_home_feed_v2_filtered), AI tables (2025-09-07/14), hashtags
-- (2025-09-19), notifications (21_fix), storage (21_storage), cron, subscriptions and
-- posted_products, security_audit_log (02), hash_maternal_id (04: needs pgcrypto at CREATE time).
--
-- One departure from a literal `psql -f` replay: 20_add_attachments.sql redefines the four list
-- RPCs with `create or replace` but a new result type and `p_offset_time` instead of `p_before`;
-- Postgres refuses that ("cannot change return type of existing function"), so a replay keeps the
-- 07 versions. The app calls the 20 versions (src/services/postService.ts), so production must
-- have had the old ones dropped; this file has the 20 versions, as the app needs them.
--
-- delete_post_v2 lives in delete_post_v2.sql, applied after this file: the `security.cross_user`
-- fault swaps it for a vulnerable copy and reverts by running that file again.


-- Tables -----------------------------------------------------------------------------------------

-- 02_schema.sql, + password_hash (05_phase2.sql), + updated_at (09_profile_bootstrap.sql).
-- Keyed by its own uuid: there is NO foreign key to auth.users, so deleting an auth user leaves
-- the profile (and, through it, every post, comment, reaction and follow) behind.
create table public.user_profiles (
    id uuid primary key default gen_random_uuid(),
    username text unique not null,
    display_name text,
    bio text,
    avatar_emoji text,
    created_at timestamptz not null default now(),
    profile_visibility text not null default 'public',
    is_active boolean not null default true,
    password_hash text,
    updated_at timestamptz default now()
);
create index idx_user_profiles_updated_at on public.user_profiles (updated_at desc);

-- 02_schema.sql: the v1 login's own session tokens (pre-Supabase Auth).
create table public.auth_sessions (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null references public.user_profiles (id) on delete cascade,
    session_token text not null,
    refresh_token text not null,
    expires_at timestamptz not null,
    created_at timestamptz not null default now(),
    last_used_at timestamptz not null default now(),
    device_info jsonb,
    ip_address text,
    is_active boolean not null default true
);
create index on public.auth_sessions (user_id);
create index on public.auth_sessions (session_token);
create index on public.auth_sessions (refresh_token);

-- 05_phase2.sql. Row level security is never enabled on this table.
create table public.encrypted_maternal_health_records (
    user_id uuid primary key references public.user_profiles (id) on delete cascade,
    maternal_health_id_hash text unique not null,
    encrypted_payload jsonb not null,
    created_at timestamptz not null default now()
);
create index idx_mh_hash on public.encrypted_maternal_health_records (maternal_health_id_hash);

-- 06_posts.sql, + attachments (20_add_attachments.sql), + is_ad (20251223_add_is_ad_to_posts.sql).
create table public.posts (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null references public.user_profiles (id) on delete cascade,
    body text not null check (char_length(body) between 1 and 300),
    created_at timestamptz not null default now(),
    attachments jsonb default '[]',
    is_ad boolean default false
);
create index idx_posts_created_at on public.posts (created_at desc);
create index idx_posts_user_id_created_at on public.posts (user_id, created_at desc);
create index idx_posts_has_attachments
    on public.posts ((attachments is not null and attachments != '[]'::jsonb));
create index idx_posts_is_ad on public.posts (is_ad) where is_ad = true;
comment on column public.posts.is_ad is 'Flag for affiliate/advertisement posts';

-- 06_posts.sql
create table public.post_reactions (
    id uuid primary key default gen_random_uuid(),
    post_id uuid not null references public.posts (id) on delete cascade,
    user_id uuid not null references public.user_profiles (id) on delete cascade,
    created_at timestamptz not null default now(),
    unique (post_id, user_id)
);
create index idx_post_reactions_post_id on public.post_reactions (post_id);
create index idx_post_reactions_user_id_created_at
    on public.post_reactions (user_id, created_at desc);

-- 06_posts.sql, + attachments (20_add_attachments.sql).
create table public.post_comments (
    id uuid primary key default gen_random_uuid(),
    post_id uuid not null references public.posts (id) on delete cascade,
    user_id uuid not null references public.user_profiles (id) on delete cascade,
    body text not null check (char_length(body) between 1 and 300),
    created_at timestamptz not null default now(),
    attachments jsonb default '[]'
);
create index idx_post_comments_post_id_created_at
    on public.post_comments (post_id, created_at desc);
create index idx_post_comments_user_id_created_at
    on public.post_comments (user_id, created_at desc);
create index idx_post_comments_has_attachments
    on public.post_comments ((attachments is not null and attachments != '[]'::jsonb));

-- 08_social.sql
create table public.user_follows (
    follower_id uuid not null references public.user_profiles (id) on delete cascade,
    followee_id uuid not null references public.user_profiles (id) on delete cascade,
    created_at timestamptz not null default now(),
    constraint user_follows_pkey primary key (follower_id, followee_id),
    constraint user_follows_no_self_follow check (follower_id != followee_id)
);
create index idx_user_follows_follower on public.user_follows (follower_id);
create index idx_user_follows_followee on public.user_follows (followee_id);
create index idx_user_follows_created_at on public.user_follows (created_at desc);


-- Row level security -----------------------------------------------------------------------------
-- 03_rls.sql and 08_social.sql. The policies of 06_posts.sql (`create policy if not exists`) are
-- a syntax error in Postgres and were never created: posts, post_reactions and post_comments have
-- RLS on and no policy at all. The SECURITY DEFINER functions below run as the tables' owner,
-- whom RLS does not apply to.

alter table public.user_profiles enable row level security;
alter table public.auth_sessions enable row level security;
alter table public.posts enable row level security;
alter table public.post_reactions enable row level security;
alter table public.post_comments enable row level security;
alter table public.user_follows enable row level security;

-- Every profile, password_hash included, to every role that holds SELECT.
create policy user_profiles_select_public on public.user_profiles
    for select using (true);

create policy auth_sessions_owner_select on public.auth_sessions
    for select using (auth.uid()::uuid = user_id);
create policy auth_sessions_owner_modify on public.auth_sessions
    for all using (auth.uid()::uuid = user_id);

create policy "user_follows_select_policy" on public.user_follows
    for select using (auth.role() = 'authenticated');
create policy "user_follows_insert_policy" on public.user_follows
    for insert with check (auth.uid() = follower_id);
create policy "user_follows_delete_policy" on public.user_follows
    for delete using (auth.uid() = follower_id);

-- 07_posts_v2.sql and 08_social.sql. SELECT/INSERT/UPDATE/DELETE only: TRUNCATE, REFERENCES and
-- TRIGGER stay granted, and user_profiles, auth_sessions and the health records keep everything.
revoke select, insert, update, delete on table public.posts from anon, authenticated;
revoke select, insert, update, delete on table public.post_reactions from anon, authenticated;
revoke select, insert, update, delete on table public.post_comments from anon, authenticated;
revoke select, insert, update, delete on table public.user_follows from anon, authenticated;


-- Profile bootstrap: 09_profile_bootstrap.sql -----------------------------------------------------

create or replace function public.gen_available_username(p_email text)
returns text language plpgsql as $$
declare
  v_base text := lower(split_part(coalesce(p_email, 'user'), '@', 1));
  v_try text;
  v_i int := 0;
begin
  if v_base is null or length(v_base) = 0 then
    v_base := 'user';
  end if;
  loop
    if v_i = 0 then
      v_try := v_base;
    else
      v_try := v_base || '_' || substr(md5(random()::text), 1, 6);
    end if;
    exit when not exists (select 1 from public.user_profiles where username = v_try);
    v_i := v_i + 1;
  end loop;
  return v_try;
end; $$;

create or replace function public.handle_new_user()
returns trigger language plpgsql security definer as $$
begin
  insert into public.user_profiles
    (id, username, display_name, bio, avatar_emoji, profile_visibility, is_active, updated_at)
  values (new.id, public.gen_available_username(new.email), null, null, '👶', 'public', true, now())
  on conflict (id) do nothing;
  return new;
end; $$;

create trigger on_auth_user_created
    after insert on auth.users
    for each row execute procedure public.handle_new_user();


-- v1 sign-up and sessions: 04_rpcs.sql, replaced in part by 05_phase2.sql -------------------------
-- The app's own login before Supabase Auth, still defined. They call pgcrypto (gen_random_bytes,
-- crypt, digest, pgp_sym_encrypt) unqualified; on a build without it (the embedded one) they fail
-- when called (42883), after the EXECUTE check, which is what the security checks look at.

-- 05_phase2.sql
create or replace function public._get_maternal_key()
returns text language sql stable as $$
  select coalesce(current_setting('app.maternal_key', true), '')
$$;

-- 05_phase2.sql
create or replace function public._encrypt_maternal_payload(p_plain text)
returns jsonb language plpgsql as $$
declare
  v_key text := public._get_maternal_key();
  v_cipher bytea;
begin
  if v_key = '' then
    raise exception 'maternal key not configured';
  end if;
  v_cipher := pgp_sym_encrypt(p_plain, v_key, 'cipher-algo=aes256');
  return jsonb_build_object('ciphertext', encode(v_cipher, 'base64'));
end;
$$;

-- 05_phase2.sql
create or replace function public._decrypt_maternal_payload(p_payload jsonb)
returns text language plpgsql as $$
declare
  v_key text := public._get_maternal_key();
  v_plain text;
begin
  if v_key = '' then
    raise exception 'maternal key not configured';
  end if;
  v_plain := pgp_sym_decrypt(decode((p_payload->>'ciphertext'), 'base64'), v_key);
  return v_plain;
end;
$$;

-- 05_phase2.sql (replaces 04_rpcs.sql's)
create or replace function public.register_user_secure(
  p_username text,
  p_maternal_health_id text,
  p_password text,
  p_display_name text default null,
  p_bio text default null,
  p_avatar_emoji text default null,
  p_device_info jsonb default null
) returns jsonb
language plpgsql
security definer
as $$
declare
  v_user public.user_profiles%rowtype;
  v_session_token text := encode(gen_random_bytes(24), 'hex');
  v_refresh_token text := encode(gen_random_bytes(24), 'hex');
  v_expires_at timestamptz := now() + interval '24 hours';
  v_pw_hash text;
  v_salt text := encode(gen_random_bytes(16), 'hex');
  v_mh_hash text := encode(digest(v_salt || coalesce(p_maternal_health_id,''), 'sha256'), 'hex');
  v_payload jsonb := public._encrypt_maternal_payload(coalesce(p_maternal_health_id,''));
begin
  if exists (select 1 from public.user_profiles where username = p_username) then
    return jsonb_build_object('success', false, 'error', 'username already exists');
  end if;

  v_pw_hash := crypt(p_password, gen_salt('bf'));

  insert into public.user_profiles (username, display_name, bio, avatar_emoji, password_hash)
  values (p_username, p_display_name, p_bio, p_avatar_emoji, v_pw_hash)
  returning * into v_user;

  insert into public.encrypted_maternal_health_records
    (user_id, maternal_health_id_hash, encrypted_payload)
  values (v_user.id, v_mh_hash, v_payload);

  insert into public.auth_sessions (user_id, session_token, refresh_token, expires_at, device_info)
  values (v_user.id, v_session_token, v_refresh_token, v_expires_at, p_device_info);

  return jsonb_build_object(
    'success', true,
    'user', jsonb_build_object(
      'id', v_user.id,
      'username', v_user.username,
      'display_name', v_user.display_name,
      'bio', v_user.bio,
      'avatar_emoji', v_user.avatar_emoji,
      'created_at', v_user.created_at,
      'profile_visibility', v_user.profile_visibility,
      'is_active', v_user.is_active
    ),
    'session_token', v_session_token,
    'refresh_token', v_refresh_token,
    'expires_at', to_char(v_expires_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
  );
end;
$$;

-- 05_phase2.sql (replaces 04_rpcs.sql's)
create or replace function public.authenticate_user_secure(
  p_username text,
  p_maternal_health_id text,
  p_password text,
  p_device_info jsonb default null,
  p_ip_address text default null
) returns jsonb
language plpgsql
security definer
as $$
declare
  v_user public.user_profiles%rowtype;
  v_session_token text := encode(gen_random_bytes(24), 'hex');
  v_refresh_token text := encode(gen_random_bytes(24), 'hex');
  v_expires_at timestamptz := now() + interval '24 hours';
  v_salt text := encode(gen_random_bytes(16), 'hex');
  v_mh_hash text := encode(digest(v_salt || coalesce(p_maternal_health_id,''), 'sha256'), 'hex');
  v_match boolean := false;
begin
  select * into v_user from public.user_profiles where username = p_username;
  if not found then
    return jsonb_build_object('success', false, 'error', 'Invalid credentials');
  end if;

  if crypt(p_password, v_user.password_hash) <> v_user.password_hash then
    return jsonb_build_object('success', false, 'error', 'Invalid credentials');
  end if;

  v_match := exists(select 1 from public.encrypted_maternal_health_records r
                    where r.user_id = v_user.id);
  if not v_match then
    return jsonb_build_object('success', false, 'error', 'Invalid credentials');
  end if;

  insert into public.auth_sessions
    (user_id, session_token, refresh_token, expires_at, device_info, ip_address)
  values (v_user.id, v_session_token, v_refresh_token, v_expires_at, p_device_info, p_ip_address);

  return jsonb_build_object(
    'success', true,
    'user', jsonb_build_object(
      'id', v_user.id,
      'username', v_user.username,
      'display_name', v_user.display_name,
      'bio', v_user.bio,
      'avatar_emoji', v_user.avatar_emoji,
      'created_at', v_user.created_at,
      'profile_visibility', v_user.profile_visibility,
      'is_active', v_user.is_active
    ),
    'session_token', v_session_token,
    'refresh_token', v_refresh_token,
    'expires_at', to_char(v_expires_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
  );
end;
$$;

-- 04_rpcs.sql
create or replace function public.refresh_session_token(
  p_refresh_token text
) returns jsonb
language plpgsql
security definer
as $$
declare
  v_sess public.auth_sessions%rowtype;
  v_new_session_token text := encode(gen_random_bytes(24), 'hex');
  v_new_refresh_token text := encode(gen_random_bytes(24), 'hex');
  v_new_expires_at timestamptz := now() + interval '24 hours';
begin
  select * into v_sess from public.auth_sessions
   where refresh_token = p_refresh_token and is_active = true;
  if not found then
    return jsonb_build_object('success', false);
  end if;

  update public.auth_sessions
  set session_token = v_new_session_token,
      refresh_token = v_new_refresh_token,
      expires_at = v_new_expires_at,
      last_used_at = now()
  where id = v_sess.id;

  return jsonb_build_object(
    'success', true,
    'session_token', v_new_session_token,
    'refresh_token', v_new_refresh_token,
    'expires_at', to_char(v_new_expires_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
  );
end;
$$;

-- 04_rpcs.sql
create or replace function public.invalidate_session(
  p_session_token text
) returns void
language sql
security definer
as $$
  update public.auth_sessions set is_active = false where session_token = p_session_token;
$$;

-- 04_rpcs.sql
create or replace function public.validate_session_token(
  p_session_token text
) returns jsonb
language sql
security definer
as $$
  select jsonb_build_object(
    'is_valid', exists(select 1 from public.auth_sessions
                        where session_token = p_session_token and is_active = true
                          and expires_at > now())
  );
$$;


-- v1 posts, reactions and comments: 06_posts.sql ------------------------------------------------
-- They take the acting user as p_user_id and trust it. 07_posts_v2.sql revokes EXECUTE from
-- authenticated on all but get_home_feed, yet never from PUBLIC or anon.

create or replace function public.get_home_feed(p_limit int default 20, p_before timestamptz default null)
returns table (
  id uuid,
  user_id uuid,
  body text,
  created_at timestamptz,
  user_username text,
  user_display_name text,
  user_avatar_emoji text,
  reaction_count bigint,
  comment_count bigint
) language sql stable security definer as $$
  select p.id,
         p.user_id,
         p.body,
         p.created_at,
         u.username as user_username,
         u.display_name as user_display_name,
         u.avatar_emoji as user_avatar_emoji,
         (select count(*) from public.post_reactions r where r.post_id = p.id) as reaction_count,
         (select count(*) from public.post_comments c where c.post_id = p.id) as comment_count
  from public.posts p
  join public.user_profiles u on u.id = p.user_id
  where (p_before is null or p.created_at < p_before)
  order by p.created_at desc
  limit greatest(1, least(coalesce(p_limit, 20), 100));
$$;

create or replace function public.get_user_posts(p_user_id uuid, p_limit int default 20, p_before timestamptz default null)
returns table (
  id uuid,
  user_id uuid,
  body text,
  created_at timestamptz,
  user_username text,
  user_display_name text,
  user_avatar_emoji text,
  reaction_count bigint,
  comment_count bigint
) language sql stable security definer as $$
  select p.id,
         p.user_id,
         p.body,
         p.created_at,
         u.username as user_username,
         u.display_name as user_display_name,
         u.avatar_emoji as user_avatar_emoji,
         (select count(*) from public.post_reactions r where r.post_id = p.id) as reaction_count,
         (select count(*) from public.post_comments c where c.post_id = p.id) as comment_count
  from public.posts p
  join public.user_profiles u on u.id = p.user_id
  where p.user_id = p_user_id and (p_before is null or p.created_at < p_before)
  order by p.created_at desc
  limit greatest(1, least(coalesce(p_limit, 20), 100));
$$;

create or replace function public.get_user_post_count(p_user_id uuid)
returns bigint language sql stable security definer as $$
  select count(*)::bigint from public.posts where user_id = p_user_id;
$$;

create or replace function public.get_liked_posts(p_user_id uuid, p_limit int default 20, p_before timestamptz default null)
returns table (
  id uuid,
  user_id uuid,
  body text,
  created_at timestamptz,
  user_username text,
  user_display_name text,
  user_avatar_emoji text,
  reaction_count bigint,
  comment_count bigint
) language sql stable security definer as $$
  select p.id,
         p.user_id,
         p.body,
         p.created_at,
         u.username as user_username,
         u.display_name as user_display_name,
         u.avatar_emoji as user_avatar_emoji,
         (select count(*) from public.post_reactions r2 where r2.post_id = p.id) as reaction_count,
         (select count(*) from public.post_comments c2 where c2.post_id = p.id) as comment_count
  from public.post_reactions r
  join public.posts p on p.id = r.post_id
  join public.user_profiles u on u.id = p.user_id
  where r.user_id = p_user_id and (p_before is null or r.created_at < p_before)
  order by r.created_at desc
  limit greatest(1, least(coalesce(p_limit, 20), 100));
$$;

create or replace function public.create_post(p_user_id uuid, p_body text)
returns public.posts
language plpgsql security definer as $$
declare
  v_post public.posts%rowtype;
begin
  insert into public.posts(user_id, body) values (p_user_id, p_body) returning * into v_post;
  return v_post;
end; $$;

create or replace function public.add_reaction(p_user_id uuid, p_post_id uuid)
returns boolean language plpgsql security definer as $$
begin
  insert into public.post_reactions(post_id, user_id)
  values (p_post_id, p_user_id)
  on conflict do nothing;
  return found;
end; $$;

create or replace function public.remove_reaction(p_user_id uuid, p_post_id uuid)
returns boolean language plpgsql security definer as $$
begin
  delete from public.post_reactions where post_id = p_post_id and user_id = p_user_id;
  return found;
end; $$;

create or replace function public.create_comment(p_user_id uuid, p_post_id uuid, p_body text)
returns public.post_comments language plpgsql security definer as $$
declare
  v_comment public.post_comments%rowtype;
begin
  insert into public.post_comments(post_id, user_id, body)
  values (p_post_id, p_user_id, p_body) returning * into v_comment;
  return v_comment;
end; $$;

create or replace function public.get_post_comments(
  p_post_id uuid,
  p_limit int default 20,
  p_before timestamptz default null
) returns table (
  id uuid,
  post_id uuid,
  user_id uuid,
  body text,
  created_at timestamptz,
  user_username text,
  user_display_name text,
  user_avatar_emoji text
) language sql stable security definer as $$
  select c.id,
         c.post_id,
         c.user_id,
         c.body,
         c.created_at,
         u.username as user_username,
         u.display_name as user_display_name,
         u.avatar_emoji as user_avatar_emoji
  from public.post_comments c
  join public.user_profiles u on u.id = c.user_id
  where c.post_id = p_post_id and (p_before is null or c.created_at < p_before)
  order by c.created_at desc
  limit greatest(1, least(coalesce(p_limit, 20), 100));
$$;

create or replace function public.delete_post(p_user_id uuid, p_post_id uuid)
returns boolean language plpgsql security definer as $$
begin
  delete from public.posts where id = p_post_id and user_id = p_user_id;
  return found;
end; $$;

create or replace function public.delete_comment(p_user_id uuid, p_comment_id uuid)
returns boolean language plpgsql security definer as $$
begin
  delete from public.post_comments where id = p_comment_id and user_id = p_user_id;
  return found;
end; $$;

-- 07_posts_v2.sql, section 4.
revoke execute on function public.create_post(uuid, text) from authenticated;
revoke execute on function public.add_reaction(uuid, uuid) from authenticated;
revoke execute on function public.remove_reaction(uuid, uuid) from authenticated;
revoke execute on function public.create_comment(uuid, uuid, text) from authenticated;
revoke execute on function public.delete_post(uuid, uuid) from authenticated;
revoke execute on function public.delete_comment(uuid, uuid) from authenticated;
revoke execute on function public.get_user_posts(uuid, int, timestamptz) from authenticated;
revoke execute on function public.get_user_post_count(uuid) from authenticated;
revoke execute on function public.get_liked_posts(uuid, int, timestamptz) from authenticated;
revoke execute on function public.get_post_comments(uuid, int, timestamptz) from authenticated;


-- v2 posts, reactions and comments ---------------------------------------------------------------
-- The acting user is auth.uid(); nothing checks that there is one, so without a user a write
-- fails on a NOT NULL column and a read simply runs.

-- 20_add_attachments.sql (the 07 version with p_before and user_* columns cannot be replaced in
-- place; see the header).
create or replace function public.get_home_feed_v2(
  p_limit int default 20,
  p_offset_time timestamptz default null
)
returns table (
  id uuid,
  user_id uuid,
  body text,
  attachments jsonb,
  created_at timestamptz,
  display_name text,
  avatar_emoji text,
  is_liked boolean,
  reaction_count bigint,
  comment_count bigint
) language plpgsql security definer as $$
begin
  return query
  select
    p.id,
    p.user_id,
    p.body,
    p.attachments,
    p.created_at,
    u.display_name,
    u.avatar_emoji,
    exists(select 1 from public.post_reactions r where r.post_id = p.id and r.user_id = auth.uid()) as is_liked,
    (select count(*) from public.post_reactions r where r.post_id = p.id) as reaction_count,
    (select count(*) from public.post_comments c where c.post_id = p.id) as comment_count
  from public.posts p
  join public.user_profiles u on p.user_id = u.id
  where (p_offset_time is null or p.created_at < p_offset_time)
  order by p.created_at desc
  limit greatest(1, least(coalesce(p_limit, 20), 100));
end; $$;

-- 20_add_attachments.sql
create or replace function public.get_user_posts_v2(
  p_limit int default 20,
  p_offset_time timestamptz default null
)
returns table (
  id uuid,
  user_id uuid,
  body text,
  attachments jsonb,
  created_at timestamptz,
  display_name text,
  avatar_emoji text,
  is_liked boolean,
  reaction_count bigint,
  comment_count bigint
) language plpgsql security definer as $$
begin
  return query
  select
    p.id,
    p.user_id,
    p.body,
    p.attachments,
    p.created_at,
    u.display_name,
    u.avatar_emoji,
    exists(select 1 from public.post_reactions r where r.post_id = p.id and r.user_id = auth.uid()) as is_liked,
    (select count(*) from public.post_reactions r where r.post_id = p.id) as reaction_count,
    (select count(*) from public.post_comments c where c.post_id = p.id) as comment_count
  from public.posts p
  join public.user_profiles u on p.user_id = u.id
  where p.user_id = auth.uid()
    and (p_offset_time is null or p.created_at < p_offset_time)
  order by p.created_at desc
  limit greatest(1, least(coalesce(p_limit, 20), 100));
end; $$;

-- 07_posts_v2.sql
create or replace function public.get_user_post_count_v2()
returns bigint language sql stable security definer as $$
  select count(*)::bigint from public.posts where user_id = auth.uid();
$$;

-- 20_add_attachments.sql. Ordered and paged by the reaction's created_at, but the created_at it
-- returns (and the app pages with) is the post's.
create or replace function public.get_liked_posts_v2(
  p_limit int default 20,
  p_offset_time timestamptz default null
)
returns table (
  id uuid,
  user_id uuid,
  body text,
  attachments jsonb,
  created_at timestamptz,
  display_name text,
  avatar_emoji text,
  is_liked boolean,
  reaction_count bigint,
  comment_count bigint
) language plpgsql security definer as $$
begin
  return query
  select
    p.id,
    p.user_id,
    p.body,
    p.attachments,
    p.created_at,
    u.display_name,
    u.avatar_emoji,
    true as is_liked,
    (select count(*) from public.post_reactions r2 where r2.post_id = p.id) as reaction_count,
    (select count(*) from public.post_comments c2 where c2.post_id = p.id) as comment_count
  from public.posts p
  join public.user_profiles u on p.user_id = u.id
  join public.post_reactions r on r.post_id = p.id and r.user_id = auth.uid()
  where (p_offset_time is null or r.created_at < p_offset_time)
  order by r.created_at desc
  limit greatest(1, least(coalesce(p_limit, 20), 100));
end; $$;

-- 07_posts_v2.sql: still there next to the overload below. A call naming only p_body matches
-- both, so PostgREST refuses it (300 PGRST203); this one cannot be reached through the API.
create or replace function public.create_post_v2(p_body text)
returns public.posts
language plpgsql security definer as $$
declare
  v_post public.posts%rowtype;
begin
  insert into public.posts(user_id, body) values (auth.uid(), p_body) returning * into v_post;
  return v_post;
end; $$;

-- 20_add_attachments.sql: an overload, the one the app calls (it always sends p_attachments).
create or replace function public.create_post_v2(
  p_body text,
  p_attachments jsonb default '[]'
)
returns public.posts
language plpgsql security definer as $$
declare
  v_post public.posts%rowtype;
begin
  if jsonb_array_length(coalesce(p_attachments, '[]'::jsonb)) > 4 then
    raise exception 'Maximum 4 images allowed per post';
  end if;

  if (p_body is null or trim(p_body) = '') and
     (p_attachments is null or p_attachments = '[]'::jsonb) then
    raise exception 'Post must have content or images';
  end if;

  insert into public.posts(user_id, body, attachments)
  values (auth.uid(), coalesce(p_body, ''), coalesce(p_attachments, '[]'::jsonb))
  returning * into v_post;

  return v_post;
end; $$;

-- 07_posts_v2.sql
create or replace function public.add_reaction_v2(p_post_id uuid)
returns boolean language plpgsql security definer as $$
begin
  insert into public.post_reactions(post_id, user_id)
  values (p_post_id, auth.uid())
  on conflict do nothing;
  return found;
end; $$;

-- 07_posts_v2.sql
create or replace function public.remove_reaction_v2(p_post_id uuid)
returns boolean language plpgsql security definer as $$
begin
  delete from public.post_reactions where post_id = p_post_id and user_id = auth.uid();
  return found;
end; $$;

-- 07_posts_v2.sql: like create_post_v2(text), shadowed by its overload for every API call.
create or replace function public.create_comment_v2(p_post_id uuid, p_body text)
returns public.post_comments language plpgsql security definer as $$
declare
  v_comment public.post_comments%rowtype;
begin
  insert into public.post_comments(post_id, user_id, body)
  values (p_post_id, auth.uid(), p_body)
  returning * into v_comment;
  return v_comment;
end; $$;

-- 20_add_attachments.sql: the overload the app calls first.
create or replace function public.create_comment_v2(
  p_post_id uuid,
  p_body text,
  p_attachments jsonb default '[]'
)
returns public.post_comments
language plpgsql security definer as $$
declare
  v_comment public.post_comments%rowtype;
begin
  if jsonb_array_length(coalesce(p_attachments, '[]'::jsonb)) > 4 then
    raise exception 'Maximum 4 images allowed per comment';
  end if;

  if (p_body is null or trim(p_body) = '') and
     (p_attachments is null or p_attachments = '[]'::jsonb) then
    raise exception 'Comment must have content or images';
  end if;

  insert into public.post_comments(post_id, user_id, body, attachments)
  values (p_post_id, auth.uid(), coalesce(p_body, ''), coalesce(p_attachments, '[]'::jsonb))
  returning * into v_comment;

  return v_comment;
end; $$;

-- 20_add_attachments.sql
create or replace function public.get_post_comments_v2(
  p_post_id uuid,
  p_limit int default 50,
  p_offset_time timestamptz default null
)
returns table (
  id uuid,
  post_id uuid,
  user_id uuid,
  body text,
  attachments jsonb,
  created_at timestamptz,
  display_name text,
  avatar_emoji text
) language plpgsql security definer as $$
begin
  return query
  select
    c.id,
    c.post_id,
    c.user_id,
    c.body,
    c.attachments,
    c.created_at,
    u.display_name,
    u.avatar_emoji
  from public.post_comments c
  join public.user_profiles u on c.user_id = u.id
  where c.post_id = p_post_id
    and (p_offset_time is null or c.created_at < p_offset_time)
  order by c.created_at desc
  limit greatest(1, least(coalesce(p_limit, 50), 100));
end; $$;

-- 07_posts_v2.sql
create or replace function public.delete_comment_v2(p_comment_id uuid)
returns boolean language plpgsql security definer as $$
begin
  delete from public.post_comments where id = p_comment_id and user_id = auth.uid();
  return found;
end; $$;


-- v2 profiles and follows: 08_social.sql, 10_get_user_profile.sql ---------------------------------

-- 08_social.sql
create or replace function public.update_my_profile_v2(
  p_display_name text,
  p_bio text,
  p_avatar_emoji text
) returns public.user_profiles
language plpgsql security definer
as $$
declare
  v_profile public.user_profiles;
begin
  if p_display_name is not null and (length(p_display_name) < 1 or length(p_display_name) > 30) then
    raise exception 'Invalid display name length';
  end if;

  if p_bio is not null and length(p_bio) > 500 then
    raise exception 'Bio too long';
  end if;

  if p_avatar_emoji is not null and length(p_avatar_emoji) > 10 then
    raise exception 'Invalid avatar emoji';
  end if;

  update public.user_profiles
  set
    display_name = coalesce(p_display_name, display_name),
    bio = coalesce(p_bio, bio),
    avatar_emoji = coalesce(p_avatar_emoji, avatar_emoji),
    updated_at = now()
  where id = auth.uid()
  returning * into v_profile;

  if v_profile.id is null then
    raise exception 'Profile not found';
  end if;

  return v_profile;
end;
$$;

-- 08_social.sql: the whole row, password_hash included.
create or replace function public.get_my_profile_v2()
returns public.user_profiles
language sql stable security definer
as $$
  select * from public.user_profiles where id = auth.uid();
$$;

-- 10_get_user_profile.sql: anyone's whole row, password_hash included.
create or replace function public.get_user_profile_v2(
  p_user_id uuid
) returns public.user_profiles
language sql stable security definer
as $$
  select * from public.user_profiles
  where id = p_user_id
  and is_active = true;
$$;

-- 08_social.sql
create or replace function public.follow_user_v2(
  p_target_user_id uuid
) returns boolean
language plpgsql security definer
as $$
begin
  if not exists(select 1 from public.user_profiles where id = p_target_user_id) then
    raise exception 'User not found';
  end if;

  if p_target_user_id = auth.uid() then
    raise exception 'Cannot follow yourself';
  end if;

  insert into public.user_follows (follower_id, followee_id)
  values (auth.uid(), p_target_user_id)
  on conflict (follower_id, followee_id) do nothing;

  return found;
end;
$$;

-- 08_social.sql
create or replace function public.unfollow_user_v2(
  p_target_user_id uuid
) returns boolean
language plpgsql security definer
as $$
begin
  delete from public.user_follows
  where follower_id = auth.uid() and followee_id = p_target_user_id;

  return found;
end;
$$;

-- 08_social.sql: still paged with p_before (the app sends p_before here).
create or replace function public.get_followers_v2(
  p_user_id uuid,
  p_limit int default 20,
  p_before timestamptz default null
) returns table (
  user_id uuid,
  username text,
  display_name text,
  avatar_emoji text,
  followed_at timestamptz
)
language sql stable security definer
as $$
  select
    up.id as user_id,
    up.username,
    up.display_name,
    up.avatar_emoji,
    uf.created_at as followed_at
  from public.user_follows uf
  join public.user_profiles up on up.id = uf.follower_id
  where uf.followee_id = p_user_id
    and (p_before is null or uf.created_at < p_before)
  order by uf.created_at desc
  limit greatest(1, least(coalesce(p_limit, 20), 100));
$$;

-- 08_social.sql
create or replace function public.get_following_v2(
  p_user_id uuid,
  p_limit int default 20,
  p_before timestamptz default null
) returns table (
  user_id uuid,
  username text,
  display_name text,
  avatar_emoji text,
  followed_at timestamptz
)
language sql stable security definer
as $$
  select
    up.id as user_id,
    up.username,
    up.display_name,
    up.avatar_emoji,
    uf.created_at as followed_at
  from public.user_follows uf
  join public.user_profiles up on up.id = uf.followee_id
  where uf.follower_id = p_user_id
    and (p_before is null or uf.created_at < p_before)
  order by uf.created_at desc
  limit greatest(1, least(coalesce(p_limit, 20), 100));
$$;

-- 08_social.sql
create or replace function public.get_follow_counts_v2(
  p_user_id uuid
) returns table (
  followers bigint,
  following bigint
)
language sql stable security definer
as $$
  select
    (select count(*) from public.user_follows where followee_id = p_user_id)::bigint as followers,
    (select count(*) from public.user_follows where follower_id = p_user_id)::bigint as following;
$$;

-- 08_social.sql
create or replace function public.is_following_v2(
  p_target_user_id uuid
) returns boolean
language sql stable security definer
as $$
  select exists(
    select 1 from public.user_follows
    where follower_id = auth.uid() and followee_id = p_target_user_id
  );
$$;
