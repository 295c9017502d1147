-- Fault `security.cross_user`: delete_post_v2 as a careless migration might have written it. It
-- still demands a signed-in caller and keeps the hardened grants, so every other security check
-- stays green and only the cross-user probe (user B deletes user A's post) can tell. Reverted by
-- running delete_post_v2.sql again; CREATE OR REPLACE makes both directions re-runnable.

create or replace function public.delete_post_v2(p_post_id uuid)
returns boolean
language plpgsql
security definer
set search_path = public, pg_temp
as $$
begin
    if auth.uid() is null then
        raise exception 'authentication required' using errcode = 'insufficient_privilege';
    end if;
    -- The bug on purpose: no `and user_id = auth.uid()`, and SECURITY DEFINER bypasses RLS.
    delete from public.posts where id = p_post_id;
    return found;
end;
$$;

-- Restated so the fault changes ownership checking only, whatever ran before it.
revoke execute on function public.delete_post_v2(uuid) from public, anon;
grant execute on function public.delete_post_v2(uuid) to authenticated, service_role;
