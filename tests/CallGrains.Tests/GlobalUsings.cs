// Orleans brings its own ErrorCode into scope; ours is the wire contract's.
global using ErrorCode = CallGrains.Abstractions.ErrorCode;
