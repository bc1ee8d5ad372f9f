from heartseg.cli import main

raise SystemExit(main())
