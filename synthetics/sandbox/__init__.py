"""The local Supabase stand-in: embedded Postgres, Auth, PostgREST-style REST, mail, faults."""
