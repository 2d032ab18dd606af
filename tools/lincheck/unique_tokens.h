// unique_tokens.h — the polynomial path for locks (and elections) whose grants carry tokens.
//
// Owns decide_unique_tokens(). Tokens of one lock rise strictly with every grant, so when every
// granted acquire reports its token, the tokens alone give the order of the grants: no search over
// orders is needed. Three facts each refute a lock, and each is exact:
//   - two grants with one token: tokens rise strictly;
//   - a grant that completed before another with a lower token was invoked: the lower token must
//     have been granted first, yet real time puts it later;
//   - between two grants adjacent in token order, the first holder must release, so a release of
//     its process must be able to take effect between them: invoked before the second grant
//     completed, and not completed before the first grant was invoked. When none can, two
//     processes held the lock at once.
// When none applies, the path builds the linearization these facts suggest (each grant, then the
// first release its process invoked after it; acquires of unknown outcome left out) and replays it
// (witness.h). A lock whose linearization needs more, such as an acquire of unknown outcome that
// was in fact granted and then released by a known release, goes to the search.
#pragma once

#include "tools/lincheck/history.h"
#include "tools/lincheck/models.h"
#include "tools/lincheck/witness.h"

namespace synod::lincheck {

// Unknown (go search) when some granted acquire has no token, or when the replay fails.
PathDecision decide_unique_tokens(const History& history, const Partition& partition);

}  // namespace synod::lincheck
