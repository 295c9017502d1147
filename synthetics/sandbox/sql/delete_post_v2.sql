-- delete_post_v2 as 07_posts_v2.sql defines it, in a file of its own because the sandbox's
-- `security.cross_user` fault replaces it (fault_cross_user.sql) and reverts by running this file
-- again. CREATE OR REPLACE keeps the function's privileges, so both files change the body only:
-- who may call it is hardening.sql's business (and the security.anon_grant fault's).

create or replace function public.delete_post_v2(p_post_id uuid)
returns boolean language plpgsql security definer as $$
begin
  delete from public.posts where id = p_post_id and user_id = auth.uid();
  return found;
end; $$;
