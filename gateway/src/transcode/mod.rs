//! REST ⇄ gRPC transcoding driven by the descriptor set.
