// console/static/login.js — the login page's one line of behaviour: say
// so after a failed try (/console/login?failed=1).  Served without a session.
"use strict";
document.getElementById("failed").hidden = !/[?&]failed=1/.test(location.search);
