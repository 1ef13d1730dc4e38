"""Policy documents, their loader (file:line:col errors), waivers."""
