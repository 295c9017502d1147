"""Where the confirmation link lands: the redirect judged as the app's handler reads it
(`redirect`), a real browser clicking the email (`browser`), and the association files that make
an https redirect open the app (`app_links`)."""
