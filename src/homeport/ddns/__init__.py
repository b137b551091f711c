"""homeport's Cloudflare DDNS controller: detect the public address, keep A/AAAA records right.

The controller never writes an address it is not sure of (two providers must agree, and the
answer must be a global unicast address outside Cloudflare's ranges) and never touches a
record it does not own (records carry the owner comment).
"""
