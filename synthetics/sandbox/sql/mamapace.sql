-- The Mamapace schema after its production migration: five tables behind RLS, a profile-bootstrap
-- trigger on auth.users, and the "v2" RPCs that take the caller from the JWT (auth.uid()).
--
-- Applied after supabase.sql, whose default privileges grant ALL on every new table and function in
-- `public` to anon, authenticated and service_role. Every object below is therefore created open and
-- closed explicitly afterwards; that order is what makes this file a faithful rehearsal of the real
-- migration (and of its trap, see the hardening section).
--
-- delete_post_v2 lives in delete_post_v2.sql, applied after this file: the sandbox's
-- `security.cross_user` fault swaps it for a vulnerable copy and reverts by re-running that file.


-- Tables -----------------------------------------------------------------------------------------

create table public.user_profiles (
    -- Keyed by the auth user, so deleting the account (the synthetic run's cleanup, or a GDPR
    -- request) removes the profile and, through the cascades below, everything the user wrote.
    id uuid primary key references auth.users (id) on delete cascade,
    username text not null unique,
    display_name text,
    bio text,
    avatar_emoji text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    profile_visibility text not null default 'public',
    is_active boolean not null default true
);

create table public.posts (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null references public.user_profiles (id) on delete cascade,
    body text not null check (char_length(body) between 1 and 300),
    created_at timestamptz not null default now()
);
-- Every feed pages backwards by created_at; the per-user index serves "my posts" and the count.
create index posts_created_at_idx on public.posts (created_at desc);
create index posts_user_id_created_at_idx on public.posts (user_id, created_at desc);

create table public.post_reactions (
    id uuid primary key default gen_random_uuid(),
    post_id uuid not null references public.posts (id) on delete cascade,
    user_id uuid not null references public.user_profiles (id) on delete cascade,
    created_at timestamptz not null default now(),
    -- One reaction per user and post: this is what makes add_reaction_v2 idempotent.
    unique (post_id, user_id)
);
create index post_reactions_user_id_idx on public.post_reactions (user_id);

create table public.post_comments (
    id uuid primary key default gen_random_uuid(),
    post_id uuid not null references public.posts (id) on delete cascade,
    user_id uuid not null references public.user_profiles (id) on delete cascade,
    body text not null check (char_length(body) between 1 and 300),
    created_at timestamptz not null default now()
);
create index post_comments_post_id_created_at_idx on public.post_comments (post_id, created_at desc);
create index post_comments_user_id_idx on public.post_comments (user_id);

create table public.user_follows (
    follower_id uuid not null references public.user_profiles (id) on delete cascade,
    followee_id uuid not null references public.user_profiles (id) on delete cascade,
    created_at timestamptz not null default now(),
    primary key (follower_id, followee_id),
    constraint user_follows_no_self_follow check (follower_id <> followee_id)
);
-- The primary key serves "whom do I follow"; this serves "who follows me".
create index user_follows_followee_id_idx on public.user_follows (followee_id, created_at desc);


-- Row level security -----------------------------------------------------------------------------
-- The app reaches these tables only through the SECURITY DEFINER RPCs, which run as the owner and
-- are not subject to these policies. The policies are the second line of defence: should a grant
-- come back (the runbook's emergency Plan B re-grants SELECT to anon), a role without a policy
-- still sees nothing and an authenticated user sees only their own rows.
-- `(select auth.uid())` rather than `auth.uid()` lets the planner evaluate it once per statement.

alter table public.user_profiles enable row level security;
alter table public.posts enable row level security;
alter table public.post_reactions enable row level security;
alter table public.post_comments enable row level security;
alter table public.user_follows enable row level security;

create policy user_profiles_select_public_or_own on public.user_profiles
    for select to authenticated
    using (profile_visibility = 'public' or id = (select auth.uid()));

create policy posts_own on public.posts
    for all to authenticated
    using (user_id = (select auth.uid()))
    with check (user_id = (select auth.uid()));

create policy post_reactions_own on public.post_reactions
    for all to authenticated
    using (user_id = (select auth.uid()))
    with check (user_id = (select auth.uid()));

create policy post_comments_own on public.post_comments
    for all to authenticated
    using (user_id = (select auth.uid()))
    with check (user_id = (select auth.uid()));

create policy user_follows_own on public.user_follows
    for all to authenticated
    using (follower_id = (select auth.uid()))
    with check (follower_id = (select auth.uid()));

-- Undo Supabase's default grants: the content tables are reachable only through the v2 RPCs.
-- Profiles stay readable to signed-in users (under the policy above) but are written only by the
-- trigger and update_my_profile_v2.
revoke all on table public.posts, public.post_reactions, public.post_comments, public.user_follows
    from anon, authenticated;
revoke all on table public.user_profiles from anon, authenticated;
grant select on table public.user_profiles to authenticated;


-- Profile bootstrap ------------------------------------------------------------------------------
-- GoTrue inserts into auth.users as supabase_auth_admin, which has no rights on public; SECURITY
-- DEFINER lets the trigger write the profile anyway. A failure here fails the sign-up itself, so
-- the username must always be derivable, even without an email (phone or anonymous sign-ups).

create or replace function public.handle_new_user()
returns trigger
language plpgsql
security definer
set search_path = public, pg_temp
as $$
declare
    v_base text;
    v_candidate text;
    v_suffix integer := 1;
begin
    v_base := regexp_replace(lower(split_part(coalesce(new.email, ''), '@', 1)), '[^a-z0-9_]', '_', 'g');
    if v_base = '' then
        v_base := 'user';
    end if;
    v_candidate := v_base;

    loop
        -- The existence test keeps the common path free of subtransactions; the exception
        -- handler covers a concurrent sign-up taking the same name between test and insert.
        if not exists (select 1 from public.user_profiles where username = v_candidate) then
            begin
                insert into public.user_profiles (id, username) values (new.id, v_candidate);
                return new;
            exception when unique_violation then
                -- Fall through to the next suffix; a duplicate id cannot happen because
                -- auth.users.id is itself unique.
                null;
            end;
        end if;
        v_suffix := v_suffix + 1;
        v_candidate := v_base || '_' || v_suffix;
    end loop;
end;
$$;

-- Only the trigger may call it (Postgres checks EXECUTE when the trigger is created, not fired).
revoke execute on function public.handle_new_user() from public, anon, authenticated;

create trigger on_auth_user_created
    after insert on auth.users
    for each row execute function public.handle_new_user();


-- v2 RPCs ----------------------------------------------------------------------------------------
-- Conventions shared by every function below:
--   * SECURITY DEFINER, because the callers have no table privileges at all;
--   * `set search_path = public, pg_temp`, so a caller cannot shadow a table or operator with an
--     object of their own while the function runs with the owner's rights;
--   * the acting user comes only from auth.uid() (the JWT), never from an argument: trusting a
--     p_user_id argument is exactly what the v1 functions got wrong;
--   * no signed-in user → 42501, which PostgREST answers as 401/403 rather than running as nobody;
--   * lists page backwards: `created_at < p_before`, newest first, p_limit clamped to 1..100 so a
--     client cannot ask for the whole table in one call;
--   * expected failures raise short generic messages (the security.error_leak check reads them)
--     instead of letting a constraint name the table in its message. The constraints stay the
--     guarantee; the checks in the functions only decide what the caller is told.
-- Read-only functions are STABLE so PostgREST may serve them over GET.

-- Profiles

create or replace function public.get_my_profile_v2()
returns public.user_profiles
language plpgsql stable
security definer
set search_path = public, pg_temp
as $$
declare
    v_uid uuid := auth.uid();
    v_profile public.user_profiles;
begin
    if v_uid is null then
        raise exception 'authentication required' using errcode = 'insufficient_privilege';
    end if;
    select * into v_profile from public.user_profiles where id = v_uid;
    return v_profile;
end;
$$;

create or replace function public.update_my_profile_v2(p_display_name text, p_bio text, p_avatar_emoji text)
returns public.user_profiles
language plpgsql
security definer
set search_path = public, pg_temp
as $$
declare
    v_uid uuid := auth.uid();
    v_profile public.user_profiles;
begin
    if v_uid is null then
        raise exception 'authentication required' using errcode = 'insufficient_privilege';
    end if;
    -- null means "leave as is", so the app can send only the field the user edited.
    update public.user_profiles
       set display_name = coalesce(p_display_name, display_name),
           bio = coalesce(p_bio, bio),
           avatar_emoji = coalesce(p_avatar_emoji, avatar_emoji),
           updated_at = now()
     where id = v_uid
    returning * into v_profile;
    return v_profile;
end;
$$;

create or replace function public.get_user_profile_v2(p_user_id uuid)
returns public.user_profiles
language plpgsql stable
security definer
set search_path = public, pg_temp
as $$
declare
    v_uid uuid := auth.uid();
    v_profile public.user_profiles;
begin
    -- Same visibility rule as the table's RLS policy, which SECURITY DEFINER bypasses.
    select * into v_profile
      from public.user_profiles
     where id = p_user_id
       and (profile_visibility = 'public' or id = v_uid);
    return v_profile;
end;
$$;

-- Posts and feeds
--
-- Reads of public data (feed, public profiles, comments, follow lists) do not check auth.uid(),
-- like the production functions: only the missing EXECUTE grant keeps anon out. That is the trap
-- the security.anon_rpc check watches, and what the security.anon_grant fault re-opens.

create or replace function public.get_home_feed_v2(p_limit integer default 20, p_before timestamptz default null)
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
)
language plpgsql stable
security definer
set search_path = public, pg_temp
as $$
#variable_conflict use_column
begin
    return query
    select p.id, p.user_id, p.body, p.created_at,
           u.username, u.display_name, u.avatar_emoji,
           (select count(*) from public.post_reactions r where r.post_id = p.id),
           (select count(*) from public.post_comments c where c.post_id = p.id)
      from public.posts p
      join public.user_profiles u on u.id = p.user_id
     where p_before is null or p.created_at < p_before
     order by p.created_at desc, p.id desc
     limit least(greatest(coalesce(p_limit, 20), 1), 100);
end;
$$;

create or replace function public.get_user_posts_v2(p_limit integer default 20, p_before timestamptz default null)
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
)
language plpgsql stable
security definer
set search_path = public, pg_temp
as $$
#variable_conflict use_column
declare
    v_uid uuid := auth.uid();
begin
    if v_uid is null then
        raise exception 'authentication required' using errcode = 'insufficient_privilege';
    end if;
    return query
    select p.id, p.user_id, p.body, p.created_at,
           u.username, u.display_name, u.avatar_emoji,
           (select count(*) from public.post_reactions r where r.post_id = p.id),
           (select count(*) from public.post_comments c where c.post_id = p.id)
      from public.posts p
      join public.user_profiles u on u.id = p.user_id
     where p.user_id = v_uid
       and (p_before is null or p.created_at < p_before)
     order by p.created_at desc, p.id desc
     limit least(greatest(coalesce(p_limit, 20), 1), 100);
end;
$$;

create or replace function public.get_user_post_count_v2()
returns bigint
language plpgsql stable
security definer
set search_path = public, pg_temp
as $$
declare
    v_uid uuid := auth.uid();
begin
    if v_uid is null then
        raise exception 'authentication required' using errcode = 'insufficient_privilege';
    end if;
    return (select count(*) from public.posts where user_id = v_uid);
end;
$$;

create or replace function public.get_liked_posts_v2(p_limit integer default 20, p_before timestamptz default null)
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
)
language plpgsql stable
security definer
set search_path = public, pg_temp
as $$
#variable_conflict use_column
declare
    v_uid uuid := auth.uid();
begin
    if v_uid is null then
        raise exception 'authentication required' using errcode = 'insufficient_privilege';
    end if;
    -- Paged by the post's created_at (the column returned), so the cursor a client takes from the
    -- last row is the one this filter compares against.
    return query
    select p.id, p.user_id, p.body, p.created_at,
           u.username, u.display_name, u.avatar_emoji,
           (select count(*) from public.post_reactions r where r.post_id = p.id),
           (select count(*) from public.post_comments c where c.post_id = p.id)
      from public.post_reactions mine
      join public.posts p on p.id = mine.post_id
      join public.user_profiles u on u.id = p.user_id
     where mine.user_id = v_uid
       and (p_before is null or p.created_at < p_before)
     order by p.created_at desc, p.id desc
     limit least(greatest(coalesce(p_limit, 20), 1), 100);
end;
$$;

create or replace function public.create_post_v2(p_body text)
returns public.posts
language plpgsql
security definer
set search_path = public, pg_temp
as $$
declare
    v_uid uuid := auth.uid();
    v_post public.posts;
begin
    if v_uid is null then
        raise exception 'authentication required' using errcode = 'insufficient_privilege';
    end if;
    if p_body is null or char_length(p_body) not between 1 and 300 then
        raise exception 'body must be 1 to 300 characters' using errcode = 'check_violation';
    end if;
    insert into public.posts (user_id, body) values (v_uid, p_body) returning * into v_post;
    return v_post;
end;
$$;

-- Reactions

create or replace function public.add_reaction_v2(p_post_id uuid)
returns boolean
language plpgsql
security definer
set search_path = public, pg_temp
as $$
declare
    v_uid uuid := auth.uid();
begin
    if v_uid is null then
        raise exception 'authentication required' using errcode = 'insufficient_privilege';
    end if;
    if not exists (select 1 from public.posts where id = p_post_id) then
        raise exception 'post not found' using errcode = 'foreign_key_violation';
    end if;
    -- A double tap must not fail: the second call is a no-op that reports false.
    insert into public.post_reactions (post_id, user_id) values (p_post_id, v_uid)
        on conflict (post_id, user_id) do nothing;
    return found;
end;
$$;

create or replace function public.remove_reaction_v2(p_post_id uuid)
returns boolean
language plpgsql
security definer
set search_path = public, pg_temp
as $$
declare
    v_uid uuid := auth.uid();
begin
    if v_uid is null then
        raise exception 'authentication required' using errcode = 'insufficient_privilege';
    end if;
    delete from public.post_reactions where post_id = p_post_id and user_id = v_uid;
    return found;
end;
$$;

-- Comments

create or replace function public.create_comment_v2(p_post_id uuid, p_body text)
returns public.post_comments
language plpgsql
security definer
set search_path = public, pg_temp
as $$
declare
    v_uid uuid := auth.uid();
    v_comment public.post_comments;
begin
    if v_uid is null then
        raise exception 'authentication required' using errcode = 'insufficient_privilege';
    end if;
    if p_body is null or char_length(p_body) not between 1 and 300 then
        raise exception 'body must be 1 to 300 characters' using errcode = 'check_violation';
    end if;
    if not exists (select 1 from public.posts where id = p_post_id) then
        raise exception 'post not found' using errcode = 'foreign_key_violation';
    end if;
    insert into public.post_comments (post_id, user_id, body) values (p_post_id, v_uid, p_body)
        returning * into v_comment;
    return v_comment;
end;
$$;

create or replace function public.get_post_comments_v2(
    p_post_id uuid, p_limit integer default 20, p_before timestamptz default null
)
returns table (
    id uuid,
    post_id uuid,
    user_id uuid,
    body text,
    created_at timestamptz,
    user_username text,
    user_display_name text,
    user_avatar_emoji text
)
language plpgsql stable
security definer
set search_path = public, pg_temp
as $$
#variable_conflict use_column
begin
    return query
    select c.id, c.post_id, c.user_id, c.body, c.created_at,
           u.username, u.display_name, u.avatar_emoji
      from public.post_comments c
      join public.user_profiles u on u.id = c.user_id
     where c.post_id = p_post_id
       and (p_before is null or c.created_at < p_before)
     order by c.created_at desc, c.id desc
     limit least(greatest(coalesce(p_limit, 20), 1), 100);
end;
$$;

create or replace function public.delete_comment_v2(p_comment_id uuid)
returns boolean
language plpgsql
security definer
set search_path = public, pg_temp
as $$
declare
    v_uid uuid := auth.uid();
begin
    if v_uid is null then
        raise exception 'authentication required' using errcode = 'insufficient_privilege';
    end if;
    -- The ownership test is part of the WHERE clause: someone else's comment id simply matches
    -- nothing, so the caller learns no more than "not deleted".
    delete from public.post_comments where id = p_comment_id and user_id = v_uid;
    return found;
end;
$$;

-- Follows

create or replace function public.follow_user_v2(p_target_user_id uuid)
returns boolean
language plpgsql
security definer
set search_path = public, pg_temp
as $$
declare
    v_uid uuid := auth.uid();
begin
    if v_uid is null then
        raise exception 'authentication required' using errcode = 'insufficient_privilege';
    end if;
    if p_target_user_id = v_uid then
        raise exception 'cannot follow yourself' using errcode = 'check_violation';
    end if;
    if not exists (select 1 from public.user_profiles where id = p_target_user_id) then
        raise exception 'user not found' using errcode = 'foreign_key_violation';
    end if;
    insert into public.user_follows (follower_id, followee_id) values (v_uid, p_target_user_id)
        on conflict (follower_id, followee_id) do nothing;
    return found;
end;
$$;

create or replace function public.unfollow_user_v2(p_target_user_id uuid)
returns boolean
language plpgsql
security definer
set search_path = public, pg_temp
as $$
declare
    v_uid uuid := auth.uid();
begin
    if v_uid is null then
        raise exception 'authentication required' using errcode = 'insufficient_privilege';
    end if;
    delete from public.user_follows where follower_id = v_uid and followee_id = p_target_user_id;
    return found;
end;
$$;

create or replace function public.is_following_v2(p_target_user_id uuid)
returns boolean
language plpgsql stable
security definer
set search_path = public, pg_temp
as $$
declare
    v_uid uuid := auth.uid();
begin
    if v_uid is null then
        raise exception 'authentication required' using errcode = 'insufficient_privilege';
    end if;
    return exists (
        select 1 from public.user_follows where follower_id = v_uid and followee_id = p_target_user_id
    );
end;
$$;

create or replace function public.get_follow_counts_v2(p_user_id uuid)
returns table (followers bigint, following bigint)
language plpgsql stable
security definer
set search_path = public, pg_temp
as $$
#variable_conflict use_column
begin
    return query
    select (select count(*) from public.user_follows f where f.followee_id = p_user_id),
           (select count(*) from public.user_follows f where f.follower_id = p_user_id);
end;
$$;

create or replace function public.get_followers_v2(
    p_user_id uuid, p_limit integer default 20, p_before timestamptz default null
)
returns table (
    user_id uuid,
    username text,
    display_name text,
    avatar_emoji text,
    followed_at timestamptz
)
language plpgsql stable
security definer
set search_path = public, pg_temp
as $$
#variable_conflict use_column
begin
    return query
    select u.id, u.username, u.display_name, u.avatar_emoji, f.created_at
      from public.user_follows f
      join public.user_profiles u on u.id = f.follower_id
     where f.followee_id = p_user_id
       and (p_before is null or f.created_at < p_before)
     order by f.created_at desc, u.id desc
     limit least(greatest(coalesce(p_limit, 20), 1), 100);
end;
$$;

create or replace function public.get_following_v2(
    p_user_id uuid, p_limit integer default 20, p_before timestamptz default null
)
returns table (
    user_id uuid,
    username text,
    display_name text,
    avatar_emoji text,
    followed_at timestamptz
)
language plpgsql stable
security definer
set search_path = public, pg_temp
as $$
#variable_conflict use_column
begin
    return query
    select u.id, u.username, u.display_name, u.avatar_emoji, f.created_at
      from public.user_follows f
      join public.user_profiles u on u.id = f.followee_id
     where f.follower_id = p_user_id
       and (p_before is null or f.created_at < p_before)
     order by f.created_at desc, u.id desc
     limit least(greatest(coalesce(p_limit, 20), 1), 100);
end;
$$;


-- Hardening --------------------------------------------------------------------------------------
-- The trap mamapace.md describes: the migration granted EXECUTE to authenticated but never took it
-- away from PUBLIC (Postgres's own default) or anon (Supabase's default privileges). A SECURITY
-- DEFINER function open to anon reads every post with the anon key alone, table revokes or not.
-- The 42501 raised inside each function is a second guard, for a grant that comes back.

revoke execute on function
    public.get_my_profile_v2(),
    public.update_my_profile_v2(text, text, text),
    public.get_user_profile_v2(uuid),
    public.get_home_feed_v2(integer, timestamptz),
    public.get_user_posts_v2(integer, timestamptz),
    public.get_user_post_count_v2(),
    public.get_liked_posts_v2(integer, timestamptz),
    public.create_post_v2(text),
    public.add_reaction_v2(uuid),
    public.remove_reaction_v2(uuid),
    public.create_comment_v2(uuid, text),
    public.get_post_comments_v2(uuid, integer, timestamptz),
    public.delete_comment_v2(uuid),
    public.follow_user_v2(uuid),
    public.unfollow_user_v2(uuid),
    public.is_following_v2(uuid),
    public.get_follow_counts_v2(uuid),
    public.get_followers_v2(uuid, integer, timestamptz),
    public.get_following_v2(uuid, integer, timestamptz)
from public, anon;

grant execute on function
    public.get_my_profile_v2(),
    public.update_my_profile_v2(text, text, text),
    public.get_user_profile_v2(uuid),
    public.get_home_feed_v2(integer, timestamptz),
    public.get_user_posts_v2(integer, timestamptz),
    public.get_user_post_count_v2(),
    public.get_liked_posts_v2(integer, timestamptz),
    public.create_post_v2(text),
    public.add_reaction_v2(uuid),
    public.remove_reaction_v2(uuid),
    public.create_comment_v2(uuid, text),
    public.get_post_comments_v2(uuid, integer, timestamptz),
    public.delete_comment_v2(uuid),
    public.follow_user_v2(uuid),
    public.unfollow_user_v2(uuid),
    public.is_following_v2(uuid),
    public.get_follow_counts_v2(uuid),
    public.get_followers_v2(uuid, integer, timestamptz),
    public.get_following_v2(uuid, integer, timestamptz)
to authenticated, service_role;


-- Legacy v1 ---------------------------------------------------------------------------------------
-- Kept because the migration kept it: it trusts p_user_id, so anyone able to call it could post as
-- anyone. The migration closed it to every API role but service_role (back-office scripts); the
-- security checks assert it stays closed.

create or replace function public.create_post(p_user_id uuid, p_body text)
returns public.posts
language sql
security definer
set search_path = public, pg_temp
as $$
    insert into public.posts (user_id, body) values (p_user_id, p_body) returning *;
$$;

revoke execute on function public.create_post(uuid, text) from public, anon, authenticated;
