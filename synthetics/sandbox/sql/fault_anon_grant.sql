-- Fault `security.anon_grant`: the anon surface Mamapace's own SQL leaves open, put back on top
-- of the hardened state. Cleared by running hardening.sql again.

-- Postgres' PUBLIC grant and Supabase's default privileges, never revoked by the app: every
-- function in public, v1 create_post(p_user_id, ...) and every SECURITY DEFINER v2 RPC included.
grant execute on all functions in schema public to public, anon;

-- Never revoked either: profiles (password_hash included, under a `using (true)` policy), the v1
-- login's session tokens, and the health records, whose RLS is off.
grant all on table
    public.user_profiles, public.auth_sessions, public.encrypted_maternal_health_records
to anon;
-- ... and the health records' RLS, which the app never enabled, so anon reads every row.
alter table public.encrypted_maternal_health_records disable row level security;

-- The protected tables: 07/08 revoked SELECT from anon; the runbook's emergency Plan B grants it
-- back, and that is what this fault has always rehearsed.
grant select on table public.posts, public.post_reactions, public.post_comments, public.user_follows
to anon;
