from transmem.cli import main

raise SystemExit(main())
