-- The hardened state: Mamapace as the runbook's Security Incident Response leaves it, plus what
-- the app needs as `authenticated` and nothing more, plus the advisor's two fixes (at the end).
-- Applied at bootstrap after mamapace.sql and again whenever the `security.anon_grant` fault is
-- cleared, so it states everything it cares about from scratch and can run any number of times.

-- The runbook's immediate actions, verbatim.
revoke all on all tables in schema public from anon;
revoke all on all functions in schema public from anon;

-- ... which leave every function executable by anon all the same: Postgres grants EXECUTE to
-- PUBLIC on every new function and anon is a member of PUBLIC. Only this closes them.
revoke all on all functions in schema public from public;

-- Signed-in users: start from nothing (Supabase's default privileges gave them everything) and
-- grant what the app uses. The v2 RPCs are its only way to the data, both overloads included.
revoke all on all tables in schema public from authenticated;
revoke all on all functions in schema public from authenticated;

grant execute on function
    public.get_my_profile_v2(),
    public.update_my_profile_v2(text, text, text),
    public.get_user_profile_v2(uuid),
    public.get_home_feed_v2(integer, timestamptz),
    public.get_user_posts_v2(integer, timestamptz),
    public.get_user_post_count_v2(),
    public.get_liked_posts_v2(integer, timestamptz),
    public.create_post_v2(text),
    public.create_post_v2(text, jsonb),
    public.delete_post_v2(uuid),
    public.add_reaction_v2(uuid),
    public.remove_reaction_v2(uuid),
    public.create_comment_v2(uuid, text),
    public.create_comment_v2(uuid, text, jsonb),
    public.get_post_comments_v2(uuid, integer, timestamptz),
    public.delete_comment_v2(uuid),
    public.follow_user_v2(uuid),
    public.unfollow_user_v2(uuid),
    public.is_following_v2(uuid),
    public.get_follow_counts_v2(uuid),
    public.get_followers_v2(uuid, integer, timestamptz),
    public.get_following_v2(uuid, integer, timestamptz)
to authenticated;

-- The app also reads profiles directly (avatars, names, search); every column but the password
-- hash, under the table's `using (true)` policy.
grant select (
    id, username, display_name, bio, avatar_emoji, created_at, profile_visibility, is_active,
    updated_at
) on public.user_profiles to authenticated;

-- The rest of "as it should be", the two things Supabase's Security Advisor (and the suite's
-- security.advisor check) finds in the app's SQL once the grants are right:
-- every SECURITY DEFINER function gets a fixed search_path (the app's bodies call pgcrypto
-- unqualified, which lives in `extensions` on Supabase), and the health records get row level
-- security (no policy: only the definer functions, running as the owner, reach them).
-- CREATE OR REPLACE drops a function's SET clauses, so this runs after every body swap too.
do $$
declare
    f regprocedure;
begin
    for f in
        select p.oid::regprocedure from pg_proc p
         where p.pronamespace = 'public'::regnamespace and p.prosecdef
    loop
        execute format('alter function %s set search_path = public, extensions, pg_temp', f);
    end loop;
end $$;

alter table public.encrypted_maternal_health_records enable row level security;
