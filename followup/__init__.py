"""followup: post-visit SMS and email follow-up for a spine and physical-therapy clinic."""
