-- The hardened delete_post_v2, in a file of its own because the sandbox's `security.cross_user`
-- fault replaces it (fault_cross_user.sql) and reverts by running this file again. Everything here
-- is therefore re-runnable: CREATE OR REPLACE keeps the function's grants, and the revoke/grant
-- pair states the intended privileges whatever state the fault left behind.

create or replace function public.delete_post_v2(p_post_id uuid)
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
    -- Ownership is part of the WHERE clause, not a separate lookup: another user's post id matches
    -- nothing, so the caller cannot tell "not yours" from "does not exist". The post's reactions
    -- and comments go with it through the foreign keys' ON DELETE CASCADE.
    delete from public.posts where id = p_post_id and user_id = v_uid;
    return found;
end;
$$;

-- See mamapace.sql, "Hardening": without the revoke, Supabase's default privileges leave this
-- SECURITY DEFINER function callable with the anon key.
revoke execute on function public.delete_post_v2(uuid) from public, anon;
grant execute on function public.delete_post_v2(uuid) to authenticated, service_role;
