"""Thin, timed clients for Supabase's Auth and PostgREST APIs."""
