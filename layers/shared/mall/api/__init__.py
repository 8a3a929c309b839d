"""HTTP plumbing shared by every API handler: the resolver with our error shape,
authentication, and pagination cursors. Handlers import from here and stay thin."""
