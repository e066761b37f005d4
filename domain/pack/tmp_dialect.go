package pack

// DialectStackStorm is defined by st2actions on main; this copy goes at the merge.
const DialectStackStorm = "stackstorm"
