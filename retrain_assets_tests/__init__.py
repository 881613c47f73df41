"""The test suite: it mirrors the package; e2e/ runs real processes; support/ is shared."""
