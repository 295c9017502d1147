-- Fault `security.cross_user`: delete_post_v2 as a careless migration might have written it. The
-- signature and privileges stay as they are (CREATE OR REPLACE keeps them), so every other check
-- stays green and only the cross-user probe (user B deletes user A's post) can tell. Reverted by
-- running delete_post_v2.sql again.

create or replace function public.delete_post_v2(p_post_id uuid)
returns boolean language plpgsql security definer as $$
begin
  -- The bug on purpose: no `and user_id = auth.uid()`, and SECURITY DEFINER bypasses RLS.
  delete from public.posts where id = p_post_id;
  return found;
end; $$;
