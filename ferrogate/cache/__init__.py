"""The exact-match response cache: keys, the stored answer, and the node-shared and Redis stores."""
